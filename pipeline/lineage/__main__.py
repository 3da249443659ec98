"""python -m pipeline.lineage: see pipeline/lineage/cli.py."""
import sys

from models import keras_choice

keras_choice.use_tf_keras()

from pipeline.lineage.cli import main  # noqa: E402  (after the Keras choice)

sys.exit(main())
