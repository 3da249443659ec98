"""The Keras wide & deep model and the TFX Trainer run_fn.

Keras choice, made here once for the whole project: Keras 2 (the tf_keras package). tensorflow-transform sets
TF_USE_LEGACY_KERAS=1 when it is imported and TFMA loads models through tf.keras, so tf.keras would be Keras 2
or Keras 3 depending on import order. Every entry point imports this package before TensorFlow (pipeline/ and the
tests import it first; the container image sets the same variable), so tf.keras is tf_keras everywhere and the
model code imports tf_keras directly.
"""
import os

os.environ['TF_USE_LEGACY_KERAS'] = '1'
