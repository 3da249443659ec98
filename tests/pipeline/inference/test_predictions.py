"""pipeline/inference/predictions.py: prediction logs joined back to the input rows by the examples' content."""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from conftest import taxi_rows, write_csv
from models.contract import PREDICTED_CLASS_COLUMN, PREDICTION_KEY, PROBABILITY_COLUMN, SERVING_INPUT
from pipeline.inference import predictions


def example(values):
  """A serialized tf.Example whose features are written in the order of `values`, whatever order the protobuf
  library would write a map in: on the wire each map entry is a record of its own, so one-entry maps concatenate."""
  entries = b''
  for name, value in values:
    one = tf.train.Features()
    one.feature[name].float_list.value.append(value)
    entries += one.SerializeToString()
  assert len(entries) < 128  # a one-byte length
  return b'\x0a' + bytes([len(entries)]) + entries  # Example.features (field 1, length-delimited)


def log(serialized, score):
  """A PredictionLog as BulkInferrer writes one: the example in the request, its probability in the response."""
  record = prediction_log_pb2.PredictionLog()
  record.predict_log.request.inputs[SERVING_INPUT].string_val.append(serialized)
  record.predict_log.response.outputs[PREDICTION_KEY].float_val.append(score)
  return record.SerializeToString()


def test_examples_are_matched_by_content_whatever_order_their_features_were_written_in():
  written = [example([('a', 1.0), ('b', 2.0)]), example([('a', 3.0), ('b', 4.0)]), example([('a', 1.0), ('b', 2.0)])]
  logged = [log(example([('b', 4.0), ('a', 3.0)]), 0.75), log(example([('b', 2.0), ('a', 1.0)]), 0.25)]
  assert example([('b', 4.0), ('a', 3.0)]) != written[1]  # other bytes, the same example
  by_example = predictions.probabilities_by_example(logged)
  np.testing.assert_array_equal(predictions.probabilities_in_order(written, by_example), [0.25, 0.75, 0.25])


def test_an_example_without_a_prediction_is_named_by_its_position():
  by_example = predictions.probabilities_by_example([log(example([('a', 1.0)]), 0.5)])
  with pytest.raises(ValueError, match='inference example 1 '):
    predictions.probabilities_in_order([example([('a', 1.0)]), example([('a', 2.0)])], by_example)


def test_input_rows_come_file_after_file_with_their_declared_types(tmp_path):
  header, rows = taxi_rows()
  first = write_csv(tmp_path / 'd' / 'a.csv', header, rows[:3]) / 'a.csv'
  second = write_csv(tmp_path / 'd' / 'b.csv', header, rows[3:5]) / 'b.csv'
  table = predictions.input_rows([str(second), str(first)])
  assert table.num_rows == 5
  assert table.column('fare').to_pylist() == [float(r[header.index('fare')]) for r in rows[3:5] + rows[:3]]
  assert table.schema.field('company').type == pa.string()
  assert table.schema.field('trip_start_hour').type == pa.int64()


def test_the_predicted_class_is_a_probability_above_the_evaluations_threshold():
  table = predictions.with_predictions(pa.table({'fare': [1.0, 2.0, 3.0]}), np.array([0.5, 0.51, 0.1], np.float32))
  assert table.column_names == ['fare', PROBABILITY_COLUMN, PREDICTED_CLASS_COLUMN]
  assert table.column(PREDICTED_CLASS_COLUMN).to_pylist() == [0, 1, 0]
  with pytest.raises(ValueError, match='3 input rows but 2 scored examples'):
    predictions.with_predictions(pa.table({'fare': [1.0, 2.0, 3.0]}), np.array([0.5, 0.5], np.float32))


def test_files_are_written_whole_and_replace_an_earlier_write(tmp_path):
  table = pa.table({'fare': [1.5, None], 'company': ['a, b', None], PREDICTION_KEY: [0.25, 0.75]})
  target = tmp_path / 'predictions' / 'run'
  predictions.write_table(pa.table({'x': [1]}), str(target))
  csv_path, parquet_path = predictions.write_table(table, str(target))
  assert sorted(p.name for p in (tmp_path / 'predictions').iterdir()) == ['run']
  assert open(csv_path).read().splitlines() == ['"fare","company","probability"', '1.5,"a, b",0.25', ',,0.75']
  assert pq.read_table(parquet_path).equals(table)


def test_the_run_id_is_the_orchestrators_or_else_the_runs_folder_in_the_output_uri():
  assert predictions.run_name('2026-12-02T08:00:41', '/out/pipeline/PredictionsWriter/predictions/7') == (
      '2026-12-02T08:00:41')
  assert predictions.run_name(None, 'gs://b/root/run-20261202/PredictionsWriter/predictions') == 'run-20261202'
