"""The TFX Trainer entry point: trains the model and exports it with the Transform graph inside."""
from __future__ import annotations

from typing import Callable, Dict, List

import absl.logging
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from models import distribution
from models.model import PREDICTION_KEY, HParams, build_model
from preprocessing import features
from preprocessing.features import Output

SERVING_SIGNATURE = 'serving_default'
TRANSFORM_SIGNATURE = 'transform_features'


def cardinalities(tf_transform_output: tft.TFTransformOutput) -> Dict[str, int]:
  """Number of distinct ids of each categorical transformed feature."""
  return {
      spec.key: spec.cardinality or (
          tf_transform_output.vocabulary_size_by_name(spec.vocabulary) + spec.oov_buckets)
      for spec in features.transformed_features() if spec.output == Output.IDS
  }


def input_dataset(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
                  tf_transform_output: tft.TFTransformOutput, hparams: HParams) -> tf.data.Dataset:
  """Endless shuffled batches of (transformed features, label) from transformed examples."""
  return data_accessor.tf_dataset_factory(
      file_pattern,
      tfxio.TensorFlowDatasetOptions(batch_size=hparams.batch_size, label_key=features.LABEL_KEY,
                                     shuffle_seed=hparams.seed),
      tf_transform_output.transformed_metadata.schema)


def export_signatures(model: keras.Model,
                      tf_transform_output: tft.TFTransformOutput) -> Dict[str, Callable]:
  """Signatures taking serialized raw tf.Examples: predictions for serving, transformed features for TFMA."""
  model.tft_layer = tf_transform_output.transform_features_layer()
  raw_spec = tf_transform_output.raw_feature_spec()
  serving_spec = {k: v for k, v in raw_spec.items() if k in features.serving_columns()}
  model_keys = [spec.key for spec in features.transformed_features()]

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')], autograph=False)
  def serve_raw_examples(serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
    transformed = model.tft_layer(tf.io.parse_example(serialized, serving_spec))
    return {PREDICTION_KEY: model({k: transformed[k] for k in model_keys})}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')], autograph=False)
  def transform_features(serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
    return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

  return {SERVING_SIGNATURE: serve_raw_examples.get_concrete_function(),
          TRANSFORM_SIGNATURE: transform_features.get_concrete_function()}


def run_fn(fn_args: tfx.components.FnArgs) -> None:
  """Trains for fn_args.train_steps steps and writes the SavedModel to fn_args.serving_model_dir.

  The distribution strategy comes first (MultiWorkerMirroredStrategy must configure TensorFlow before anything
  runs); the model is built and compiled in its scope, and each step takes batch_size examples per replica.
  """
  strategy = distribution.select()
  hparams = distribution.scale_batch(HParams.from_config(fn_args.custom_config or {}), strategy)
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
  keras.utils.set_random_seed(hparams.seed)
  train = distribution.shard_by_data(
      input_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, hparams))
  evaluation = distribution.shard_by_data(
      input_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, hparams))
  with strategy.scope():
    model = build_model(cardinalities(tf_transform_output), hparams)
  absl.logging.info('Training %d steps of batch %d (%d replica(s))', fn_args.train_steps, hparams.batch_size,
                    strategy.num_replicas_in_sync)
  model.fit(train, steps_per_epoch=fn_args.train_steps, epochs=1,
            validation_data=evaluation, validation_steps=fn_args.eval_steps,
            callbacks=[keras.callbacks.TensorBoard(log_dir=distribution.worker_dir(fn_args.model_run_dir))],
            verbose=2)
  export_dir = distribution.worker_dir(fn_args.serving_model_dir)
  model.save(export_dir, save_format='tf', signatures=export_signatures(model, tf_transform_output))
  if export_dir != fn_args.serving_model_dir:
    distribution.await_export(fn_args.serving_model_dir)
