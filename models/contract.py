"""What the exported model promises the rest of the pipeline (Evaluator, Pusher, reports, serving clients).

Plain names only, no TensorFlow: reporting reads them without loading the trainer.
"""
SERVING_SIGNATURE = 'serving_default'  # serialized raw tf.Examples (no label column) -> {PREDICTION_KEY: scores}
TRANSFORM_SIGNATURE = 'transform_features'  # serialized raw tf.Examples -> {LABEL_KEY: Transform's label} (TFMA's)
SERVING_INPUT = 'examples'  # the input name of both signatures
PREDICTION_KEY = 'probability'  # the big-tipper probability, in [0, 1]
WEIGHTS_FILE = 'weights.npz'  # beside Format-Serving in the Model artifact: weights and vocabularies.
# Layer names of the model (models/model.py), which name the weights in WEIGHTS_FILE: a warm start matches embeddings
# by them, and the folded serving model (models/folding.py) finds its layers by them.
DEEP_INPUTS, EMBEDDING_SUFFIX, WIDE_SUFFIX, COLUMN_SUFFIX = 'deep_inputs', '_embedding', '_wide', '_column'
WARM_START_FILE = 'warm_start.json'  # beside it: which weights a warm-started model took from which model.
TUNER_TRIALS_KEY = 'tuner_trials'  # the Tuner's custom_config: how many trials.
TUNER_SECONDS_KEY = 'tuner_seconds'  # and its time budget (0: none).
TUNER_PARALLEL_KEY = 'tuner_parallel'  # and how many trials run at once where it runs (1: one after another).
HPARAMS_FILE = 'hparams.json'  # beside it: the HParams the model was trained with and where they came from.
WARMUP_FILE = 'assets.extra/tf_serving_warmup_requests'  # in the SavedModel: TF Serving's warm-up requests.
DECISION_THRESHOLD = 0.5  # a probability above it predicts a big tipper (evaluation's accuracy, precision, recall).
PROBABILITY_COLUMN = PREDICTION_KEY  # pipeline.predict's output: each input row's big-tipper probability,
PREDICTED_CLASS_COLUMN = 'big_tipper_predicted'  # and 1 when it is above DECISION_THRESHOLD, else 0.
