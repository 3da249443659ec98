"""The TFX Trainer entry point: trains the model and exports it with the Transform graph inside."""
from __future__ import annotations

import dataclasses
import io
import json
import os
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import absl.logging
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.public import tfxio

from models import distribution, folding, hyperparameters, warm_start, warmup
from models.contract import (HPARAMS_FILE, PREDICTION_KEY, SERVING_INPUT, SERVING_SIGNATURE, TRANSFORM_SIGNATURE,
                             WARM_START_FILE, WEIGHTS_FILE)
from models.model import HParams, build_model
from pipeline import compat
from preprocessing import features
from preprocessing.features import Output


def cardinalities(tf_transform_output: tft.TFTransformOutput) -> Dict[str, int]:
  """Number of distinct ids of each categorical transformed feature."""
  return {
      spec.key: spec.cardinality or (
          tf_transform_output.vocabulary_size_by_name(spec.vocabulary) + spec.oov_buckets)
      for spec in features.transformed_features() if spec.output == Output.IDS
  }


def model_inputs(tf_transform_output: tft.TFTransformOutput
                 ) -> Callable[[Dict[str, tf.Tensor]], Tuple[Dict[str, tf.Tensor], tf.Tensor]]:
  """The function from a batch of parsed raw examples to (model inputs, label), through the Transform graph.

  The graph that the serving signature applies too (export_signatures), so training and serving cannot diverge.
  """
  tft_layer = tf_transform_output.transform_features_layer()
  model_keys = [spec.key for spec in features.transformed_features()]

  @tf.autograph.experimental.do_not_convert  # AutoGraph would rewrite Keras's Python: 6 s per dataset here.
  def transform(raw: Dict[str, tf.Tensor]) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
    transformed = tft_layer(raw)
    return {k: transformed[k] for k in model_keys}, transformed[features.LABEL_KEY]

  return transform


def input_dataset(file_pattern: List[str], data_accessor: DataAccessor,
                  tf_transform_output: tft.TFTransformOutput, hparams: HParams) -> tf.data.Dataset:
  """Endless shuffled batches of (model inputs, label) from raw examples: Transform writes no transformed ones."""
  raw_examples = data_accessor.tf_dataset_factory(
      file_pattern, tfxio.TensorFlowDatasetOptions(batch_size=hparams.batch_size, shuffle_seed=hparams.seed),
      tf_transform_output.raw_metadata.schema)
  return raw_examples.map(model_inputs(tf_transform_output),
                          num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def export_signatures(scorer: Callable[[Mapping[str, tf.Tensor]], tf.Tensor], tft_layer: keras.layers.Layer,
                      tf_transform_output: tft.TFTransformOutput) -> Dict[str, Callable]:
  """Signatures taking serialized raw tf.Examples: predictions for serving, the label for TFMA.

  The label signature parses only the columns the label comes from, and Transform computes only what it can from
  them: TFMA splits every output of it into every example, and with every transformed feature the Evaluator took
  about 2.5 s longer at 10x (README, What makes it fast).
  """
  raw_spec = tf_transform_output.raw_feature_spec()
  serving_spec = {k: v for k, v in raw_spec.items() if k in features.serving_columns()}
  label_spec = {k: raw_spec[k] for k in features.label_columns()}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)], autograph=False)
  def serve_raw_examples(serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
    return {PREDICTION_KEY: scorer(tft_layer(tf.io.parse_example(serialized, serving_spec)))}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)], autograph=False)
  def transform_label(serialized: tf.Tensor) -> Dict[str, tf.Tensor]:
    return {features.LABEL_KEY: tft_layer(tf.io.parse_example(serialized, label_spec))[features.LABEL_KEY]}

  return {SERVING_SIGNATURE: serve_raw_examples.get_concrete_function(),
          TRANSFORM_SIGNATURE: transform_label.get_concrete_function()}


def export_serving_model(model: keras.Model, tf_transform_output: tft.TFTransformOutput, export_dir: str) -> None:
  """Writes a SavedModel of the signatures with the Transform graph, the folded model (models/folding.py) that the
  serving signature scores with, and the model's variables; nothing else.

  Not a Keras SavedModel: serializing every Keras layer and tracing Keras's own signature took more than half of
  the Trainer's time, and nothing loads this model as Keras (the weights are also saved beside it, WEIGHTS_FILE).
  """
  tft_layer = tf_transform_output.transform_features_layer()
  module = tf.Module()
  module.model_variables = list(model.variables)
  module.scorer = folding.FoldedScorer(model)
  module.transform_resources = compat.transform_layer_resources(tft_layer)
  tf.saved_model.save(module, export_dir, signatures=export_signatures(module.scorer, tft_layer, tf_transform_output))


def model_artifact_dir(serving_model_dir: str) -> str:
  """The Model artifact's directory, given its Format-Serving directory."""
  return os.path.dirname(serving_model_dir.rstrip('/'))


def vocabularies(tf_transform_output: tft.TFTransformOutput) -> Dict[str, List[bytes]]:
  """The tokens of every vocabulary feature in id order, by transformed feature key."""
  return {spec.key: tf_transform_output.vocabulary_by_name(spec.vocabulary)
          for spec in features.transformed_features() if spec.vocabulary}


def load_saved_entries(base_model: Optional[str]) -> Dict[str, np.ndarray]:
  """The weights and vocabularies saved beside a base model's SavedModel, or {} without a base model."""
  if not base_model:
    return {}
  path = os.path.join(model_artifact_dir(base_model), WEIGHTS_FILE)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f'cannot warm-start from {base_model}: it has no {WEIGHTS_FILE} beside it')
  with tf.io.gfile.GFile(path, 'rb') as f, np.load(io.BytesIO(f.read())) as saved:
    return {name: saved[name] for name in saved.files}


def save_entries(model: keras.Model, tokens: warm_start.Vocabularies, serving_model_dir: str) -> None:
  """Writes the model's weights and vocabularies beside its SavedModel, for a later warm start."""
  buffer = io.BytesIO()  # zipfile seeks, which GFile (on gs:// too) does not allow while writing.
  np.savez(buffer, **warm_start.saved_entries({w.name: w.numpy() for w in model.weights}, tokens))
  with tf.io.gfile.GFile(os.path.join(model_artifact_dir(serving_model_dir), WEIGHTS_FILE), 'wb') as f:
    f.write(buffer.getvalue())


def start_from(model: keras.Model, entries: Mapping[str, np.ndarray],
               tokens: warm_start.Vocabularies) -> Tuple[List[str], List[str]]:
  """Sets the model's weights that can start from the saved ones; returns what was copied and left fresh."""
  saved_weights, saved_vocabularies = warm_start.split_entries(entries)
  values, copied, fresh = warm_start.warm_values({w.name: w.numpy() for w in model.weights}, saved_weights,
                                                 saved_vocabularies, tokens)
  for weight in model.weights:
    if weight.name in values:
      weight.assign(values[weight.name])
  return copied, fresh


def record_warm_start(serving_model_dir: str, base_model: str, copied: List[str], fresh: List[str]) -> None:
  """Writes which weights came from which base model beside the SavedModel, and logs it."""
  absl.logging.info('Warm start from %s: %d weights copied, %d fresh: %s', base_model, len(copied), len(fresh),
                    fresh)
  record = {'base_model': base_model, 'copied': copied, 'fresh': fresh}
  with tf.io.gfile.GFile(os.path.join(model_artifact_dir(serving_model_dir), WARM_START_FILE), 'w') as f:
    f.write(json.dumps(record, indent=2))


def record_hparams(serving_model_dir: str, hparams: HParams, tuned: Mapping[str, object],
                   overrides: Mapping[str, object]) -> None:
  """Writes the HParams the model trained with beside its SavedModel, with the tuned values and overrides behind
  them (no tuned values: the declared defaults of models/), and logs them."""
  record = {'hparams': dataclasses.asdict(hparams), 'source': 'tuned' if tuned else 'defaults',
            'tuned_values': dict(tuned), 'overrides': dict(overrides)}
  absl.logging.info('Hyperparameters (%s): %s', record['source'], record['hparams'])
  with tf.io.gfile.GFile(os.path.join(model_artifact_dir(serving_model_dir), HPARAMS_FILE), 'w') as f:
    f.write(json.dumps(record, indent=2))


def write_training_logs(log_dir: str, history: Mapping[str, List[float]], step: int) -> None:
  """The training and validation metrics of the run as TensorBoard scalars under log_dir/train and /validation.

  What keras.callbacks.TensorBoard writes for one epoch, without the 4 s its callback adds to every fit here.
  """
  for split, prefix in (('train', ''), ('validation', 'val_')):
    with tf.summary.create_file_writer(os.path.join(log_dir, split)).as_default():
      for name, values in history.items():
        if name.startswith('val_') == bool(prefix):
          tf.summary.scalar(f'epoch_{name[len(prefix):]}', values[-1], step=step)


def run_fn(fn_args: FnArgs) -> None:
  """Trains for fn_args.train_steps steps and writes the SavedModel to fn_args.serving_model_dir.

  The hyperparameters: HParams' declared defaults, then the Tuner's best values when the Trainer has a
  hyperparameters input (fn_args.hyperparameters), then the HParams fields that custom_config names; written
  beside the model (HPARAMS_FILE).

  With a base model (--warm-start), training starts from its weights where their shapes still match and runs
  train_steps more steps. The distribution strategy comes first (MultiWorkerMirroredStrategy must configure
  TensorFlow before anything runs); the model is built and compiled in its scope, and each step takes batch_size
  examples per replica. The chief also writes TF Serving's warm-up requests into the SavedModel (models/warmup.py).
  """
  strategy = distribution.select()
  overrides = {k: v for k, v in (fn_args.custom_config or {}).items() if k in HParams.__dataclass_fields__}
  declared = hyperparameters.trainer_hparams(fn_args.hyperparameters, overrides)
  hparams = distribution.scale_batch(declared, strategy)
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  keras.utils.set_random_seed(hparams.seed)
  train = distribution.shard_by_data(
      input_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, hparams))
  evaluation = distribution.shard_by_data(
      input_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, hparams))
  saved = load_saved_entries(fn_args.base_model)
  with strategy.scope():
    model = build_model(cardinalities(tf_transform_output), hparams, decay_steps=fn_args.train_steps)
  tokens = vocabularies(tf_transform_output)
  warm = start_from(model, saved, tokens) if saved else None
  absl.logging.info('Training %d steps of batch %d (%d replica(s))', fn_args.train_steps, hparams.batch_size,
                    strategy.num_replicas_in_sync)
  history = model.fit(train, steps_per_epoch=fn_args.train_steps, epochs=1,
                      validation_data=evaluation, validation_steps=fn_args.eval_steps, verbose=2)
  write_training_logs(distribution.worker_dir(fn_args.model_run_dir), history.history, fn_args.train_steps)
  export_dir = distribution.worker_dir(fn_args.serving_model_dir)
  export_serving_model(model, tf_transform_output, export_dir)
  if export_dir != fn_args.serving_model_dir:
    distribution.await_export(fn_args.serving_model_dir)
    return
  warmup.write_warmup_requests(fn_args.serving_model_dir, warmup.sample_examples(fn_args.train_files))
  save_entries(model, tokens, fn_args.serving_model_dir)
  record_hparams(fn_args.serving_model_dir, declared, hyperparameters.tuned_values(fn_args.hyperparameters),
                 overrides)
  if warm:
    record_warm_start(fn_args.serving_model_dir, fn_args.base_model, *warm)
