"""The model: its features' network (model.py), the TFX Trainer entry point (trainer.py), what the exported model
promises the pipeline (contract.py), distribution strategies (distribution.py), warm starts (warm_start.py) and the
project's Keras (keras_choice.py)."""
