"""pipeline/ingest/example_gen.py: the same tf.Examples as TFX's own CsvExampleGen executor, the features of every
example recorded on the artifact, and errors that name the cell."""
import collections
import glob
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts

from conftest import REPO_ROOT, taxi_rows, write_csv
from pipeline.ingest import example_gen
from pipeline.dag import split_config


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

  ours = examples_from(example_gen._CsvToSerializedExamples, data_root, tmp_path)
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
    list(example_gen.serialized_examples(str(path)))


def test_a_column_not_declared_is_read_as_bytes(tmp_path):
  header, rows = taxi_rows()
  path = write_csv(tmp_path / 'data' / 'data.csv', header + ['driver_rating'],
                   [list(r) + ['5'] for r in rows[:3]]) / 'data.csv'
  example = tf.train.Example.FromString(next(example_gen.serialized_examples(str(path))))
  assert example.features.feature['driver_rating'].bytes_list.value == [b'5']


EXECUTOR_RUN = '''
import sys
from pathlib import Path
from pipeline.ingest import example_gen
from test_example_gen import run_executor

run_executor(example_gen.Executor.Do, sys.argv[1], sys.argv[2])
'''


def run_executor(do, data_root, output_dir):
  """Runs an ExampleGen Do method (ours, or TFX's Beam write) over *.csv in data_root with a 4:1 split."""
  examples = standard_artifacts.Examples()
  examples.uri = str(output_dir)
  do(example_gen.Executor(), {}, {'examples': [examples]}, {
      'input_base': str(data_root),
      'input_config': json_format.MessageToJson(example_gen_pb2.Input(
          splits=[example_gen_pb2.Input.Split(name='single_split', pattern='*.csv')])),
      'output_config': json_format.MessageToJson(split_config((4, 1))),
      'output_data_format': example_gen_pb2.FORMAT_TF_EXAMPLE})
  return examples


def split_records(output_dir, split):
  """The serialized examples of one split, in file order."""
  return list(tf.data.TFRecordDataset(sorted(glob.glob(f'{output_dir}/Split-{split}/*')), compression_type='GZIP')
              .as_numpy_iterator())


def canonical(records):
  """A Counter of examples in canonical form (feature order fixed)."""
  return collections.Counter(tf.train.Example.FromString(r).SerializeToString(deterministic=True) for r in records)


def canonical_splits(data_root, output_dir):
  """Runs the executor in a new process; {split: Counter of its examples in canonical form}."""
  subprocess.run([sys.executable, '-c', EXECUTOR_RUN, str(data_root), str(output_dir)], cwd=Path(__file__).parent,
                 check=True, capture_output=True,
                 env={**os.environ, 'PYTHONPATH': f'{REPO_ROOT}{os.pathsep}{REPO_ROOT / "tests"}'})
  return {split: canonical(split_records(output_dir, split)) for split in ('train', 'eval')}


def test_each_row_goes_to_the_same_split_in_every_process(tmp_path):
  header, rows = taxi_rows()
  data_root = write_csv(tmp_path / 'data' / 'data.csv', header, rows[:2000] + rows[:50])  # 50 rows twice

  first = canonical_splits(data_root, tmp_path / 'first')
  second = canonical_splits(data_root, tmp_path / 'second')
  assert first == second
  assert sum(first['train'].values()) + sum(first['eval'].values()) == 2050
  assert 300 < sum(first['eval'].values()) < 520  # a fifth of the rows, give or take
  assert not set(first['train']) & set(first['eval'])  # a duplicated row never lands in both splits


def test_the_disk_shuffle_writes_what_tfx_beam_write_does_in_a_shuffled_order(tmp_path):
  header, rows = taxi_rows()
  numbered = [list(r) + [str(i)] for i, r in enumerate(rows[:3000])]  # row_id: an undeclared column, read as bytes
  data_root = write_csv(tmp_path / 'data' / 'data.csv', header + ['row_id'], numbered)
  ours = run_executor(example_gen.Executor.Do, data_root, tmp_path / 'ours')
  beam_written = run_executor(BaseExampleGenExecutor.Do, data_root, tmp_path / 'beam')

  for split in ('train', 'eval'):
    assert canonical(split_records(tmp_path / 'ours', split)) == canonical(split_records(tmp_path / 'beam', split))
  assert ours.split_names == beam_written.split_names == '["train", "eval"]'
  assert ours.get_string_custom_property('payload_format') == 'FORMAT_TF_EXAMPLE'
  assert glob.glob(f'{tmp_path}/ours/Split-train/*.gz')
  order = [int(tf.train.Example.FromString(r).features.feature['row_id'].bytes_list.value[0])
           for r in split_records(tmp_path / 'ours', 'train')]
  first_tenth = order[:len(order) // 10]
  assert max(first_tenth) > 2500 and min(first_tenth) < 500  # the split starts with rows from all over the file


def test_only_the_direct_runner_gets_the_disk_shuffle():
  assert example_gen.runs_on_direct_runner(None)
  assert example_gen.runs_on_direct_runner(['--direct_running_mode=multi_processing', '--direct_num_workers=2'])
  assert not example_gen.runs_on_direct_runner(['--runner=DataflowRunner', '--project=p'])


def test_a_row_hash_depends_on_its_own_cells_only():
  with_blank = pa.record_batch([pa.array([5, None], pa.int64()), pa.array([b'x', None]), pa.array([1.5, 2.0])],
                               names=['trip_seconds', 'company', 'fare'])
  alone_reordered = pa.record_batch([pa.array([1.5]), pa.array([5], pa.int64()), pa.array([b'x'])],
                                    names=['fare', 'trip_seconds', 'company'])
  assert example_gen.row_hashes(with_blank)[0] == example_gen.row_hashes(alone_reordered)[0]
  swapped = pa.record_batch([pa.array([1.5]), pa.array([5], pa.int64()), pa.array([b'x'])],
                            names=['tips', 'trip_seconds', 'company'])
  assert example_gen.row_hashes(swapped)[0] != example_gen.row_hashes(alone_reordered)[0]  # names count
  empty = pa.record_batch([pa.nulls(2, pa.int64()), pa.nulls(2, pa.binary())], names=['trip_seconds', 'company'])
  assert len(set(example_gen.row_hashes(empty))) == 1


def test_the_same_rows_cut_into_other_files_and_blocks_land_in_the_same_splits(tmp_path):
  header, rows = taxi_rows()
  rows = rows[:1500]
  seconds = header.index('trip_seconds')
  blank_rows = [r[:seconds] + [''] + r[seconds + 1:] for r in rows[:10]]  # int column blank in a few rows
  whole = write_csv(tmp_path / 'whole' / 'data.csv', header, blank_rows + rows[10:])
  cut = tmp_path / 'cut'
  write_csv(cut / 'a.csv', header, rows[10:700])  # no blank in these files' blocks
  write_csv(cut / 'b.csv', header, blank_rows)
  write_csv(cut / 'c.csv', header[::-1], [r[::-1] for r in rows[700:]])  # columns in another order
  splits = {}
  for name, data_root in (('whole', whole), ('cut', cut)):
    run_executor(example_gen.Executor.Do, data_root, tmp_path / f'out-{name}')
    splits[name] = {split: canonical(split_records(tmp_path / f'out-{name}', split)) for split in ('train', 'eval')}
  assert splits['whole'] == splits['cut']
  assert sum(splits['cut']['eval'].values()) > 200


def kinds_in(records):
  """Each distinct set of (feature, kind) pairs among serialized tf.Examples (kind None: a feature without a type)."""
  return {tuple(sorted((name, feature.WhichOneof('kind'))
                       for name, feature in tf.train.Example.FromString(r).features.feature.items())) for r in records}


def test_every_example_holds_the_features_recorded_on_the_examples_with_their_kinds(tmp_path):
  header, rows = taxi_rows()
  rows = [list(r) + [''] for r in rows[:400]]  # pool: a column without a value
  rows[3][header.index('trip_seconds')] = ''
  data_root = write_csv(tmp_path / 'data' / 'a.csv', header + ['pool'], rows[:200])
  write_csv(data_root / 'b.csv', (header + ['pool'])[::-1], [r[::-1] for r in rows[200:]])  # in another order
  examples = run_executor(example_gen.Executor.Do, data_root, tmp_path / 'out')

  recorded = json.loads(examples.get_string_custom_property(example_gen.FEATURE_KINDS))
  assert sorted(recorded) == sorted(header + ['pool'])
  assert (recorded['pool'], recorded['trip_seconds'], recorded['fare'], recorded['company']) == (
      None, 'int64_list', 'float_list', 'bytes_list')
  for split in ('train', 'eval'):
    assert kinds_in(split_records(tmp_path / 'out', split)) == {tuple(sorted(recorded.items()))}
  write_csv(data_root / 'c.csv', header, [r[:-1] for r in rows[:5]])  # without pool: not every example holds it
  mixed = run_executor(example_gen.Executor.Do, data_root, tmp_path / 'mixed')
  assert not mixed.has_custom_property(example_gen.FEATURE_KINDS)
  assert len(kinds_in(split_records(tmp_path / 'mixed', 'train'))) == 2


def test_input_order_examples_follow_the_sorted_files_then_their_rows(tmp_path):
  header, rows = taxi_rows()
  directory = write_csv(tmp_path / 'd' / 'b.csv', header, rows[:7])
  write_csv(directory / 'a.csv', header, rows[7:10])
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  properties = {'input_base': str(directory), 'input_config': json_format.MessageToJson(example_gen_pb2.Input(
      splits=[example_gen_pb2.Input.Split(name='inference', pattern='*.csv')])), 'output_config': '{}'}
  example_gen.InputOrderExecutor().Do({}, {'examples': [examples]}, properties)
  written = [tf.train.Example.FromString(r) for r in tf.data.TFRecordDataset(
      glob.glob(str(tmp_path / 'examples' / 'Split-inference' / '*')), compression_type='GZIP').as_numpy_iterator()]
  fares = [e.features.feature['fare'].float_list.value[0] for e in written]
  expected = [float(r[header.index('fare')]) for r in rows[7:10] + rows[:7]]
  assert fares == pytest.approx(expected)
  assert example_gen.input_files(examples) == [str(directory / 'a.csv'), str(directory / 'b.csv')]
  recorded = json.loads(examples.get_string_custom_property(example_gen.FEATURE_KINDS))
  assert kinds_in(r.SerializeToString() for r in written) == {tuple(sorted(recorded.items()))}
  assert examples.split_names == '["inference"]'
