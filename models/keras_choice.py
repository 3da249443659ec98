"""The project's Keras, chosen here once: Keras 2, from the tf_keras package.

tensorflow-transform sets TF_USE_LEGACY_KERAS=1 when it is imported, and TFMA loads models through tf.keras, so
without a decision tf.keras would be Keras 2 or Keras 3 depending on what a process imported first. Every entry
point calls use_tf_keras() before it imports TensorFlow (local_runner.py, kubeflow_runner.py, python -m
pipeline.lineage, python -m schema.diff, python -m benchmarks.run, tests/conftest.py and the notebooks); processes
they start inherit it, and the container image sets the same variable (Dockerfile). The model code imports tf_keras
directly.
"""
import os

KERAS_VARIABLE = 'TF_USE_LEGACY_KERAS'


def use_tf_keras() -> None:
  """Makes tf.keras mean Keras 2 (tf_keras) in this process and in the processes it starts."""
  os.environ[KERAS_VARIABLE] = '1'
