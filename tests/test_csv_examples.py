"""pipeline/csv_examples.py: the same tf.Examples as TFX's own CsvExampleGen executor, and errors that name the cell."""
import collections
import glob
import pickle
import subprocess
import sys

import apache_beam as beam
import pytest
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv_executor

from conftest import REPO_ROOT, taxi_rows, write_csv
from pipeline import csv_examples


def dump(records, path):
  with open(path, 'wb') as f:
    pickle.dump(records, f)


def examples_from(ptransform, data_root, tmp_path):
  """Every example a CSV-to-example PTransform makes of the CSV files in data_root, as canonical feature maps."""
  path = tmp_path / 'records.pkl'
  with beam.Pipeline() as pipeline:
    _ = (pipeline
         | ptransform({'input_base': str(data_root)}, '*.csv')
         | beam.Map(lambda e: e if isinstance(e, bytes) else e.SerializeToString())
         | beam.combiners.ToList()
         | beam.Map(dump, str(path)))
  with open(path, 'rb') as f:
    records = pickle.load(f)
  return collections.Counter(
      tuple(sorted((k, v.SerializeToString(deterministic=True))
                   for k, v in tf.train.Example.FromString(r).features.feature.items()))
      for r in records)


def test_the_examples_are_those_of_tfx_csv_example_gen(tmp_path):
  header, rows = taxi_rows()
  rows = [list(r) for r in rows[:300]]
  column = {name: i for i, name in enumerate(header)}
  rows[0][column['company']] = 'Taxi, "Quoted" & Sons\nsecond line'  # comma, quotes and a newline in a cell
  rows[1][column['company']] = 'Taxi Ünïcode'
  rows[2][column['fare']] = '0.1'  # float32 rounding, as Python's float() then FloatList
  rows[3][column['trip_seconds']] = ''
  rows[4][column['fare']] = ''
  rows[5][column['payment_type']] = ''
  data_root = write_csv(tmp_path / 'data' / 'part-1.csv', header, rows[:150])
  write_csv(data_root / 'part-2.csv', header, rows[150:])

  ours = examples_from(csv_examples._CsvToSerializedExamples, data_root, tmp_path)
  theirs = examples_from(tfx_csv_executor._CsvToExample, data_root, tmp_path)
  assert sum(ours.values()) == 300
  assert ours == theirs
  empty = dict(next(e for e in ours if dict(e)['trip_seconds'] == tf.train.Feature(
      int64_list=tf.train.Int64List()).SerializeToString()))
  assert tf.train.Feature.FromString(empty['fare']).float_list.value  # only the empty cell is empty


def test_a_cell_that_is_not_its_declared_type_names_the_file_and_column(tmp_path):
  header, rows = taxi_rows()
  rows = [list(r) for r in rows[:20]]
  rows[7][header.index('trip_seconds')] = '12.5'
  path = write_csv(tmp_path / 'data' / 'data.csv', header, rows) / 'data.csv'
  with pytest.raises(ValueError, match=rf"{path}: column 'trip_seconds': .*'12.5'"):
    list(csv_examples.serialized_examples(str(path)))


def test_a_column_not_declared_is_read_as_bytes(tmp_path):
  header, rows = taxi_rows()
  path = write_csv(tmp_path / 'data' / 'data.csv', header + ['driver_rating'],
                   [list(r) + ['5'] for r in rows[:3]]) / 'data.csv'
  example = tf.train.Example.FromString(next(csv_examples.serialized_examples(str(path))))
  assert example.features.feature['driver_rating'].bytes_list.value == [b'5']


EXECUTOR_RUN = '''
import sys
from google.protobuf import json_format
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from pipeline import csv_examples
from pipeline.pipeline import split_config

examples = standard_artifacts.Examples()
examples.uri = sys.argv[2]
csv_examples.Executor().Do({}, {'examples': [examples]}, {
    'input_base': sys.argv[1],
    'input_config': json_format.MessageToJson(example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name='single_split', pattern='*.csv')])),
    'output_config': json_format.MessageToJson(split_config((4, 1))),
    'output_data_format': example_gen_pb2.FORMAT_TF_EXAMPLE})
'''


def canonical_splits(data_root, output_dir):
  """Runs the executor in a new process; {split: Counter of its examples in canonical form}."""
  subprocess.run([sys.executable, '-c', EXECUTOR_RUN, str(data_root), str(output_dir)], cwd=REPO_ROOT, check=True,
                 capture_output=True)
  return {split: collections.Counter(
      tf.train.Example.FromString(r).SerializeToString(deterministic=True)
      for r in tf.data.TFRecordDataset(glob.glob(f'{output_dir}/Split-{split}/*'), compression_type='GZIP')
      .as_numpy_iterator()) for split in ('train', 'eval')}


def test_each_row_goes_to_the_same_split_in_every_process(tmp_path):
  header, rows = taxi_rows()
  data_root = write_csv(tmp_path / 'data' / 'data.csv', header, rows[:2000] + rows[:50])  # 50 rows twice

  first = canonical_splits(data_root, tmp_path / 'first')
  second = canonical_splits(data_root, tmp_path / 'second')
  assert first == second
  assert sum(first['train'].values()) + sum(first['eval'].values()) == 2050
  assert 300 < sum(first['eval'].values()) < 520  # a fifth of the rows, give or take
  assert not set(first['train']) & set(first['eval'])  # a duplicated row never lands in both splits
