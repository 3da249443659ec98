"""The predictions file: BulkInferrer's prediction logs joined back to the input rows, in input order.

BulkInferrer (TFX) scores the examples of InputOrderCsvExampleGen and writes one PredictionLog per example, whose
request holds that example, in no particular order. PredictionsWriter reads the examples in input order (sorted file
names, then rows), looks up each one's probability by the example's content (its deterministic serialization: the
logs hold the example parsed and serialized again, not the written bytes), and writes every input column, read from
the same CSV files, plus PROBABILITY_COLUMN and the predicted class at the evaluation's threshold, to
<predictions_root>/<run id>/predictions.csv and .parquet. Identical rows are identical examples: they get the same
probability.

The predictions artifact (a Dataset; its uri: that directory) records the files, the row count, the model and the
input files, and ML Metadata links it to its inputs: the inference examples, the model and the inference result.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
from pyarrow import csv as pa_csv
from tensorflow_serving.apis import prediction_log_pb2
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, component_spec, standard_artifacts
from tfx.types.experimental import simple_artifacts

from models.contract import (DECISION_THRESHOLD, PREDICTED_CLASS_COLUMN, PREDICTION_KEY, PROBABILITY_COLUMN,
                             SERVING_INPUT)
from pipeline.ingest.csv_reading import column_types, header, read_batches
from pipeline.ingest.example_gen import input_files

CSV_FILE = 'predictions.csv'
PARQUET_FILE = 'predictions.parquet'
ROWS = 'rows'
CSV_PATH = 'csv'
PARQUET_PATH = 'parquet'
MODEL_URI = 'model_uri'
RUN_ID = 'run_id'


# The output's type: TFX's generic Dataset, which the KFP v2 compiler and its launcher know (a custom type would need
# a top-level module named like its schema title there).
Predictions = simple_artifacts.Dataset


def records(directory: str) -> Iterator[bytes]:
  """The records of the (gzipped) TFRecord files in a directory, file by file in name order."""
  files = sorted(f for f in fileio.glob(os.path.join(directory, '*')) if not fileio.isdir(f))
  gzipped = [f for f in files if f.endswith('.gz')]
  plain = [f for f in files if not f.endswith('.gz')]
  for group, compression in ((gzipped, 'GZIP'), (plain, '')):
    if group:
      for record in tf.data.TFRecordDataset(group, compression_type=compression).as_numpy_iterator():
        yield record


def example_key(serialized: bytes) -> bytes:
  """A digest of a tf.Example's content, the same however its features were ordered when it was serialized."""
  canonical = tf.train.Example.FromString(serialized).SerializeToString(deterministic=True)
  return hashlib.blake2b(canonical, digest_size=16).digest()


def scored_examples(log: prediction_log_pb2.PredictionLog) -> Iterator[Tuple[bytes, float]]:
  """(example, probability) for each example of one PredictionLog of the serving signature."""
  inputs = log.predict_log.request.inputs[SERVING_INPUT].string_val
  scores = log.predict_log.response.outputs[PREDICTION_KEY].float_val
  if len(inputs) != len(scores):
    raise ValueError(f'a prediction log holds {len(inputs)} examples and {len(scores)} {PREDICTION_KEY} values')
  yield from zip(inputs, scores)


def probabilities_by_example(logs: Iterable[bytes]) -> Dict[bytes, float]:
  """Each scored example's probability, by example_key, from serialized PredictionLogs."""
  return {example_key(example): score for record in logs
          for example, score in scored_examples(prediction_log_pb2.PredictionLog.FromString(record))}


def probabilities_in_order(examples: Iterable[bytes], by_example: Dict[bytes, float]) -> np.ndarray:
  """The probability of each example, in the order given; ValueError naming the first example not scored."""
  found = []
  for position, example in enumerate(examples):
    key = example_key(example)
    if key not in by_example:
      raise ValueError(f'inference example {position} (0-based, in input order) has no prediction in the inference '
                       'result')
    found.append(by_example[key])
  return np.asarray(found, dtype=np.float32)


def input_rows(files: List[str]) -> pa.Table:
  """Every row of the CSV files, file after file, every column as its declared type (text as strings)."""
  tables = []
  for path in files:
    batches = list(read_batches(path, column_types(header(path))))
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    tables.append(table.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_binary(f.type) else f.type)
                                        for f in table.schema])))
  return pa.concat_tables(tables)


def with_predictions(rows: pa.Table, probabilities: np.ndarray, threshold: float = DECISION_THRESHOLD) -> pa.Table:
  """The rows with PROBABILITY_COLUMN and PREDICTED_CLASS_COLUMN appended; ValueError when the counts differ."""
  if rows.num_rows != len(probabilities):
    raise ValueError(f'{rows.num_rows} input rows but {len(probabilities)} scored examples')
  probability = pa.array(probabilities.astype(np.float64))
  predicted = pa.array((probabilities > threshold).astype(np.int64))
  return rows.append_column(PROBABILITY_COLUMN, probability).append_column(PREDICTED_CLASS_COLUMN, predicted)


def write_table(table: pa.Table, directory: str) -> Tuple[str, str]:
  """Writes predictions.csv and predictions.parquet into a new directory, whole or not at all: (csv, parquet).

  The files are written into a sibling directory, which is renamed to the final one once both are complete.
  """
  partial = directory.rstrip('/') + '.incomplete'
  if fileio.exists(partial):
    fileio.rmtree(partial)
  fileio.makedirs(partial)
  try:
    for name, write in ((CSV_FILE, pa_csv.write_csv), (PARQUET_FILE, pq.write_table)):
      buffer = pa.BufferOutputStream()  # Arrow's writers do not take TensorFlow's file objects (gs:// too).
      write(table, buffer)
      with fileio.open(os.path.join(partial, name), 'wb') as f:
        f.write(buffer.getvalue().to_pybytes())
  except BaseException:
    fileio.rmtree(partial)
    raise
  if fileio.exists(directory):
    fileio.rmtree(directory)
  fileio.rename(partial, directory)
  return os.path.join(directory, CSV_FILE), os.path.join(directory, PARQUET_FILE)


def predictions_table(examples: types.Artifact, inference_result: types.Artifact) -> pa.Table:
  """The input rows behind an InputOrderCsvExampleGen's examples, with BulkInferrer's scores, in input order."""
  [split] = artifact_utils.decode_split_names(examples.split_names)
  by_example = probabilities_by_example(records(inference_result.uri))
  probabilities = probabilities_in_order(records(artifact_utils.get_split_uri([examples], split)), by_example)
  return with_predictions(input_rows(input_files(examples)), probabilities)


def has_prediction_logs(inference_result: types.Artifact) -> bool:
  """Whether BulkInferrer wrote anything (it writes nothing when its model_blessing input is not blessed)."""
  return bool(fileio.glob(os.path.join(inference_result.uri, '*')))


def run_name(pipeline_run_id: Optional[str], output_uri: str) -> str:
  """The run's id as TFX's local orchestration gives it; in a KFP v2 container, which gives none, the folder of the
  run in the output's uri (<pipeline root>/.../<run>/<task>/<output key>)."""
  return pipeline_run_id or os.path.basename(os.path.dirname(os.path.dirname(output_uri.rstrip('/'))))


class Executor(base_executor.BaseExecutor):
  """Joins the inference result to the input rows and writes the predictions files (see the module docstring)."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    examples = artifact_utils.get_single_instance(input_dict['examples'])
    inference_result = artifact_utils.get_single_instance(input_dict['inference_result'])
    model = artifact_utils.get_single_instance(input_dict['model'])
    predictions = artifact_utils.get_single_instance(output_dict['predictions'])
    predictions.set_string_custom_property(MODEL_URI, model.uri)
    predictions.set_string_custom_property('input_files', json.dumps(input_files(examples)))
    if not has_prediction_logs(inference_result):  # BulkInferrer skipped a model that was not blessed.
      predictions.set_int_custom_property(ROWS, 0)
      return
    run_id = run_name(self._context.pipeline_run_id if self._context else None, predictions.uri)
    table = predictions_table(examples, inference_result)
    csv_path, parquet_path = write_table(table, os.path.join(exec_properties['predictions_root'], run_id))
    predictions.uri = os.path.dirname(csv_path)
    predictions.set_int_custom_property(ROWS, table.num_rows)
    predictions.set_string_custom_property(CSV_PATH, csv_path)
    predictions.set_string_custom_property(PARQUET_PATH, parquet_path)
    predictions.set_string_custom_property(RUN_ID, run_id)


class PredictionsWriterSpec(types.ComponentSpec):
  """Inputs: the inference examples, the model that scored them and BulkInferrer's result."""
  PARAMETERS = {'predictions_root': component_spec.ExecutionParameter(type=str),
                'code_sha256': component_spec.ExecutionParameter(type=str)}
  INPUTS = {'examples': component_spec.ChannelParameter(type=standard_artifacts.Examples),
            'model': component_spec.ChannelParameter(type=standard_artifacts.Model),
            'inference_result': component_spec.ChannelParameter(type=standard_artifacts.InferenceResult)}
  OUTPUTS = {'predictions': component_spec.ChannelParameter(type=Predictions)}


class PredictionsWriter(base_component.BaseComponent):
  """Writes <predictions_root>/<run id>/predictions.csv and .parquet: the input rows with their probability."""
  SPEC_CLASS = PredictionsWriterSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel, inference_result: types.BaseChannel,
               predictions_root: str, code_sha256: str):
    super().__init__(spec=PredictionsWriterSpec(
        examples=examples, model=model, inference_result=inference_result, predictions_root=predictions_root,
        code_sha256=code_sha256, predictions=types.Channel(type=Predictions)))
