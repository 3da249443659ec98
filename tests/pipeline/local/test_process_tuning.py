"""Process settings of local runs: Beam's DoFn signatures remembered (same answers, computed once), GC settings,
which executors' record sources batch by size, TFRecord files read by TensorFlow (same records, CRCs checked), in
the batches tfx_bsl makes (same RecordBatches), parsed by TensorFlow (same tensors; same RecordBatches and statistics
where the examples record their features)."""
import ast
import functools
import gc
import os
import subprocess
import sys

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, userstate
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components import Evaluator, StatisticsGen, Transform
from tfx.proto.orchestration import executable_spec_pb2
from tfx.types import standard_artifacts
from tfx_bsl.coders import batch_util

from conftest import REPO_ROOT, taxi_rows, write_csv
from pipeline import compat
from pipeline.ingest import example_gen
from pipeline.local import process_tuning

parse_examples = process_tuning.parse_examples


@pytest.fixture(autouse=True)
def restored_batching(monkeypatch):
  """Each test's batching and parsing settings (batch_records_for) undone after it."""
  monkeypatch.setattr(batch_util, '_UseByteSizeBatching', batch_util._UseByteSizeBatching)
  monkeypatch.setattr(process_tuning.ParsingSettings, 'tensors_only', process_tuning.ParsingSettings.tensors_only)
  monkeypatch.setattr(process_tuning.ParsingSettings, 'feature_kinds', process_tuning.ParsingSettings.feature_kinds)


class Counting:
  """Wraps Beam's get_function_args_defaults and counts its calls."""

  def __init__(self):
    self.calls = 0

  def __call__(self, f):
    self.calls += 1
    return core.get_function_args_defaults(f)


class SumPerKey(beam.DoFn):
  """A stateful DoFn: a bag state and a default argument Beam must find at every bundle."""
  TOTAL = userstate.CombiningValueStateSpec('total', combine_fn=sum)

  def process(self, element, total=beam.DoFn.StateParam(TOTAL)):
    total.add(element[1])
    yield element[0], total.read()


def scale(x, factor=2):
  return x * factor


def test_answers_are_beams_and_computed_once_per_function_and_binding():
  counting = Counting()
  remembered = process_tuning.remembering(counting)
  first, second = SumPerKey(), SumPerKey()
  expected = core.get_function_args_defaults(first.process)
  assert remembered(first.process) == expected == remembered(second.process)
  assert remembered(SumPerKey.process) == core.get_function_args_defaults(SumPerKey.process)  # unbound: has self
  assert remembered(scale) == (['x', 'factor'], [2]) == remembered(scale)
  assert counting.calls == 3
  remembered(first.process)[0].append('changed')  # callers get copies
  assert remembered(second.process) == expected
  partial = functools.partial(scale, factor=3)
  assert remembered(partial) == core.get_function_args_defaults(partial) == remembered(partial)
  assert counting.calls == 5  # other callables are asked every time


def test_a_stateful_pipeline_runs_the_same_with_signatures_remembered(monkeypatch):
  monkeypatch.setattr(core, 'get_function_args_defaults', core.get_function_args_defaults)  # restored afterwards
  process_tuning.remember_beam_signatures()
  process_tuning.remember_beam_signatures()
  assert core.get_function_args_defaults.remembers.__name__ == 'get_function_args_defaults'  # wrapped once
  assert userstate.get_dofn_specs(SumPerKey()) == ({SumPerKey.TOTAL}, set())
  with beam.Pipeline() as pipeline:
    totals = (pipeline | beam.Create([('a', 1), ('a', 2), ('b', 5)]) | beam.ParDo(SumPerKey())
              | beam.combiners.Top.PerKey(1) | beam.MapTuple(lambda key, top: (key, top[0])))
    assert_that(totals, equal_to([('a', 3), ('b', 5)]))


@pytest.fixture
def restored_gc():
  """Python's garbage collection settings as they were, after the test."""
  threshold, enabled = gc.get_threshold(), gc.isenabled()
  yield
  gc.unfreeze()
  gc.set_threshold(*threshold)
  (gc.enable if enabled else gc.disable)()


def test_loaded_objects_are_frozen_and_young_ones_collected_less_often(restored_gc):
  process_tuning.tune_garbage_collection()
  assert gc.get_freeze_count() > 100_000  # the libraries this test process loaded
  assert gc.get_threshold() == (process_tuning.GC_YOUNGEST_THRESHOLD, process_tuning.GC_OLDER_THRESHOLD,
                                process_tuning.GC_OLDER_THRESHOLD)


def test_collection_deferred_while_libraries_load_resumes_when_tuned_and_exit_skips_it(restored_gc):
  process_tuning.defer_garbage_collection()
  assert not gc.isenabled()
  process_tuning.tune_garbage_collection()
  assert gc.isenabled()
  frozen = gc.get_freeze_count()
  made_by_the_run = [[i] for i in range(10_000)]
  process_tuning.skip_collection_at_exit()
  assert gc.get_freeze_count() >= frozen + len(made_by_the_run)


ARENAS_OF_EIGHT_THREADS = """
import ctypes, sys, tempfile, threading
from pipeline.local import process_tuning
if sys.argv[1] == 'limited':
  assert process_tuning.limit_malloc_arenas()
all_started, held = threading.Barrier(8), []

def allocate():
  held.append([bytes(1000) for _ in range(100)])  # above Python's small-object size: from malloc
  all_started.wait()

threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
  thread.start()
for thread in threads:
  thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes, libc.fclose.argtypes = [ctypes.c_int, ctypes.c_void_p], [ctypes.c_void_p]
with tempfile.NamedTemporaryFile('r') as report:
  stream = libc.fopen(report.name.encode(), b'w')
  libc.malloc_info(0, stream)
  libc.fclose(stream)
  print(report.read().count('<heap nr='))
"""

FREED_IN_A_THREAD = """
import threading
import psutil
from pipeline.local import process_tuning
kept = []

def churn():  # about 200 MB in 4 KB blocks, one in twenty kept: the freed pages lie between kept ones
  blocks = [bytes(4000) + bytes([i % 256]) for i in range(50_000)]
  kept.extend(blocks[::20])

thread = threading.Thread(target=churn)
thread.start()
thread.join()
held = psutil.Process().memory_info().rss
process_tuning.release_memory()
print(held, psutil.Process().memory_info().rss)
"""


def python_output(script: str, *args: str) -> str:
  """What a script run by a fresh Python in the repository prints."""
  return subprocess.run([sys.executable, '-c', script, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                        check=True).stdout


@pytest.mark.skipif(process_tuning.glibc() is None, reason='glibc\'s malloc controls only')
def test_limited_malloc_arenas_are_one_per_core_instead_of_one_per_thread():
  assert int(python_output(ARENAS_OF_EIGHT_THREADS, 'default')) == 9  # the main thread's and one per thread
  assert int(python_output(ARENAS_OF_EIGHT_THREADS, 'limited')) == min(os.cpu_count(), 9)


@pytest.mark.skipif(process_tuning.glibc() is None, reason='glibc\'s malloc controls only')
def test_released_memory_goes_back_to_the_system():
  held, after = map(int, python_output(FREED_IN_A_THREAD).split())
  assert held > 150 * 2**20 and held - after > 120 * 2**20


def class_path(component) -> str:
  """Where a TFX component's executor class is, as its executable spec names it."""
  executor = component.EXECUTOR_SPEC.executor_class
  return f'{executor.__module__}.{executor.__name__}'


def test_statistics_gen_and_transform_batch_records_by_size_and_other_executors_by_count():
  assert set(process_tuning.SIZE_BATCHED_EXECUTORS) == {class_path(StatisticsGen), class_path(Transform)}
  for component, by_size in ((StatisticsGen, True), (Evaluator, False), (Transform, True)):
    spec = executable_spec_pb2.BeamExecutableSpec(
        python_executor_spec=executable_spec_pb2.PythonClassExecutableSpec(class_path=class_path(component)))
    process_tuning.batch_records_for(spec, {})
    assert batch_util._UseByteSizeBatching() is by_size, component  # pylint: disable=protected-access
  process_tuning.batch_records_for(executable_spec_pb2.PythonClassExecutableSpec(class_path='conftest.Executor'), {})
  assert batch_util._UseByteSizeBatching() is False  # pylint: disable=protected-access


def write_tfrecords(path, records, compression: str = '') -> None:
  """A TFRecord file of the records, gzipped when compression is 'GZIP'."""
  with tf.io.TFRecordWriter(str(path), options=compression or None) as writer:
    for record in records:
      writer.write(record)


def taxi_records(count: int, offset: int = 0) -> list:
  """Serialized tf.Examples with an int and a string column."""
  return [tf.train.Example(features=tf.train.Features(feature={
      'trip_seconds': tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
      'company': tf.train.Feature(bytes_list=tf.train.BytesList(value=[f'Cab {i % 7}'.encode()]))}
  )).SerializeToString() for i in range(offset, offset + count)]


def read_through_tfxio(pipeline: beam.Pipeline, patterns, batch_size=100) -> beam.PCollection:
  """The raw records in the RecordBatches that a TFExampleRecord TFXIO reads from the patterns."""
  from tfx_bsl.tfxio import tf_example_record  # pylint: disable=g-import-not-at-top
  io = tf_example_record.TFExampleRecord(patterns, raw_record_column_name='raw')
  return (pipeline | io.BeamSource(batch_size=batch_size)
          | beam.FlatMap(lambda batch: batch.column(batch.schema.get_field_index('raw')).flatten().to_pylist()))


def reads_with_tensorflow(pipeline: beam.Pipeline) -> bool:
  """Whether process_tuning's TensorFlow reader is in the pipeline."""
  return any(label.endswith('ReadTFRecords') for label in pipeline.applied_labels)


EXPECTED_RECORDS = taxi_records(250) + taxi_records(120, offset=250)
TAXI_SCHEMA = text_format.Parse('feature { name: "trip_seconds" type: INT } feature { name: "company" type: BYTES }',
                                schema_pb2.Schema())


def reads_batches_with_tensorflow(pipeline: beam.Pipeline) -> bool:
  """Whether process_tuning's batched TensorFlow reader is in the pipeline."""
  return any(label.endswith('ReadTFRecordBatches') for label in pipeline.applied_labels)


def write_record_batches(path, tfxio, batch_size=None) -> None:
  """The rows of each RecordBatch that tfxio.BeamSource(batch_size) makes, one line per batch, in order."""
  with beam.Pipeline() as pipeline:
    _ = (pipeline | 'Read' >> tfxio.BeamSource(batch_size) | beam.Map(lambda batch: batch.to_pylist())
         | beam.combiners.ToList() | beam.Map(lambda batches: path.write_text('\n'.join(map(repr, batches)))))
  return pipeline


@pytest.fixture
def tensorflow_reads_tfrecords(monkeypatch, tmp_path, restored_gc):
  """The process tuned, as local runs tune theirs (the functions it replaces and GC restored afterwards), and two
  files of EXPECTED_RECORDS: one gzipped, one not."""
  from tfx_bsl.tfxio import record_based_tfxio, tf_example_record  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(record_based_tfxio, 'ReadTfRecord', record_based_tfxio.ReadTfRecord)
  monkeypatch.setattr(tf_example_record.TFExampleRecord, 'BeamSource', tf_example_record.TFExampleRecord.BeamSource)
  monkeypatch.setattr(core, 'get_function_args_defaults', core.get_function_args_defaults)
  process_tuning.tune()
  process_tuning.tune()
  assert getattr(record_based_tfxio.ReadTfRecord, compat.WRAPPED_MARK).__name__ == 'ReadTfRecord'  # wrapped once
  assert getattr(tf_example_record.TFExampleRecord.BeamSource, compat.WRAPPED_MARK).__name__ == 'BeamSource'
  write_tfrecords(tmp_path / 'part-0.gz', EXPECTED_RECORDS[:250], 'GZIP')
  write_tfrecords(tmp_path / 'part-1', EXPECTED_RECORDS[250:])
  return tmp_path


def test_tensorflow_reads_every_tfrecord_file_of_a_single_process_direct_runner(tensorflow_reads_tfrecords):
  with beam.Pipeline() as pipeline:
    assert_that(read_through_tfxio(pipeline, [str(tensorflow_reads_tfrecords / 'part-*')]), equal_to(EXPECTED_RECORDS))
  assert reads_batches_with_tensorflow(pipeline)


@pytest.mark.parametrize('batch_size, by_size', [(100, False), (None, True)])
def test_batches_read_by_tensorflow_make_the_record_batches_tfx_bsl_makes(tensorflow_reads_tfrecords, batch_size,
                                                                        by_size):
  """A batch size, or tfx_bsl's batching by bytes (StatisticsGen, Transform): the same RecordBatches, in the same
  order, as tfx_bsl's own source, for the whole schema and for a projection with the raw records."""
  from tfx_bsl.tfxio import tf_example_record  # pylint: disable=g-import-not-at-top
  compat.batch_records_by_size(by_size)
  pattern = [str(tensorflow_reads_tfrecords / 'part-*')]
  for tfxio in (tf_example_record.TFExampleRecord(pattern, schema=TAXI_SCHEMA),
                tf_example_record.TFExampleRecord(pattern, schema=TAXI_SCHEMA, raw_record_column_name='raw'
                                                  ).Project(['company'])):
    batched = write_record_batches(tensorflow_reads_tfrecords / 'batched.txt', tfxio, batch_size)
    assert reads_batches_with_tensorflow(batched)
    wrapped = tf_example_record.TFExampleRecord.BeamSource
    try:
      tf_example_record.TFExampleRecord.BeamSource = getattr(wrapped, compat.WRAPPED_MARK)
      write_record_batches(tensorflow_reads_tfrecords / 'tfx_bsl.txt', tfxio, batch_size)
    finally:
      tf_example_record.TFExampleRecord.BeamSource = wrapped
    batches = (tensorflow_reads_tfrecords / 'batched.txt').read_text()
    assert batches == (tensorflow_reads_tfrecords / 'tfx_bsl.txt').read_text()
    assert [len(ast.literal_eval(line)) for line in batches.splitlines()] == ([100, 100, 100, 70] if batch_size else [370])


def test_where_beam_tunes_the_batch_size_tfx_bsl_batches_the_records_tensorflow_reads(tensorflow_reads_tfrecords):
  compat.batch_records_by_size(False)  # the Evaluator: no batch size, no batching by bytes
  with beam.Pipeline() as pipeline:
    assert_that(read_through_tfxio(pipeline, [str(tensorflow_reads_tfrecords / 'part-*')], batch_size=None),
                equal_to(EXPECTED_RECORDS))
  assert reads_with_tensorflow(pipeline) and not reads_batches_with_tensorflow(pipeline)


def test_sized_batches_are_cut_where_beams_batch_elements_cuts_them():
  records = [b'x' * n for n in (5, 1, 9, 3, 3, 3, 12, 2, 7, 7, 1)]
  with beam.Pipeline() as pipeline:
    batches = pipeline | beam.Create(records, reshuffle=False) | beam.BatchElements(
        min_batch_size=10, max_batch_size=10, element_size_fn=len)
    assert_that(batches, equal_to(list(process_tuning.sized_batches(records, (10, len)))))
  assert [len(b) for b in process_tuning.sized_batches(records, (10, len))] == [2, 1, 3, 1, 2, 2]
  assert list(process_tuning.sized_batches(records, (4, lambda record: 1))) == [records[:4], records[4:8], records[8:]]
  assert process_tuning.fixed_batching(100)[0] == 100 and process_tuning.fixed_batching(100)[1](b'any') == 1


def test_beam_reads_for_several_workers_another_compression_or_a_pattern_without_files(tensorflow_reads_tfrecords):
  pipeline = beam.Pipeline(argv=['--direct_running_mode=multi_processing', '--direct_num_workers=2'])
  read_through_tfxio(pipeline, [str(tensorflow_reads_tfrecords / 'part-*')])
  assert not reads_with_tensorflow(pipeline)
  assert process_tuning.tfrecord_compressions([str(tensorflow_reads_tfrecords / 'part-*')]) == [
      (str(tensorflow_reads_tfrecords / 'part-0.gz'), 'GZIP'), (str(tensorflow_reads_tfrecords / 'part-1'), '')]
  (tensorflow_reads_tfrecords / 'part-2.bz2').write_bytes(b'')
  assert process_tuning.tfrecord_compressions([str(tensorflow_reads_tfrecords / 'part-*')]) is None
  assert process_tuning.tfrecord_compressions([str(tensorflow_reads_tfrecords / 'none-*')]) is None
  assert process_tuning.tfrecord_compressions(['gs://bucket/part-*']) is None  # not local: Beam's file systems


def test_a_corrupted_record_fails_the_read(tensorflow_reads_tfrecords):
  data = bytearray((tensorflow_reads_tfrecords / 'part-1').read_bytes())
  data[40] ^= 0xFF  # a byte of the first record's data: its CRC no longer matches
  (tensorflow_reads_tfrecords / 'part-1').write_bytes(bytes(data))
  with pytest.raises(Exception, match='(?i)corrupted record'):
    with beam.Pipeline() as pipeline:
      read_through_tfxio(pipeline, [str(tensorflow_reads_tfrecords / 'part-*')])


def ints(*values) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def floats(*values) -> tf.train.Feature:
  return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def strings(*values) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def example_of(**features: tf.train.Feature) -> bytes:
  return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


MIXED_SCHEMA = text_format.Parse('feature { name: "trip_seconds" type: INT } feature { name: "company" type: BYTES } '
                                 'feature { name: "fare" type: FLOAT }', schema_pb2.Schema())
MIXED_RECORDS = [example_of(trip_seconds=ints(5), company=strings(b'Cab 1'), fare=floats(2.5)),
                 example_of(trip_seconds=ints(), company=strings(b'Cab 2', b'Cab 3'), fare=tf.train.Feature()),
                 example_of(company=strings()),  # absent features
                 example_of(trip_seconds=ints(7, 8), fare=floats(1.0, -3.25))]


@pytest.mark.parametrize('raw_record_column_name', [None, 'raw'])
def test_examples_parsed_by_tensorflow_make_the_tensors_tfx_bsls_decoder_makes(raw_record_column_name):
  from tfx_bsl.tfxio import tf_example_record  # pylint: disable=g-import-not-at-top
  tfxio = tf_example_record.TFExampleRecord('unread', schema=MIXED_SCHEMA,
                                            raw_record_column_name=raw_record_column_name)
  decoder = compat.example_batch_decoder(tfxio)
  decoder.setup()
  expected = list(decoder.process(MIXED_RECORDS))[0]
  parsed = process_tuning.parse_examples(MIXED_RECORDS, process_tuning.parsed_columns(tfxio))

  assert parsed.schema.equals(expected.schema)
  assert expected.column(0).to_pylist() == [[5], [], None, [7, 8]]  # null: absent; []: no values
  assert parsed.column(0).to_pylist() == [[5], [], [], [7, 8]]
  adapter = tfxio.TensorAdapter()
  expected_tensors, parsed_tensors = adapter.ToBatchTensors(expected), adapter.ToBatchTensors(parsed)
  assert sorted(parsed_tensors) == sorted(expected_tensors) == ['company', 'fare', 'trip_seconds']
  for name, tensor in expected_tensors.items():
    for part in ('indices', 'values', 'dense_shape'):
      assert getattr(parsed_tensors[name], part).numpy().tolist() == getattr(tensor, part).numpy().tolist(), name
  if raw_record_column_name:
    assert parsed.column(3).to_pylist() == expected.column(3).to_pylist() == [[r] for r in MIXED_RECORDS]


def prepare_for(component, input_dict=None) -> None:
  """batch_records_for a TFX component's executor, as a local run's worker does before running it."""
  process_tuning.batch_records_for(executable_spec_pb2.BeamExecutableSpec(
      python_executor_spec=executable_spec_pb2.PythonClassExecutableSpec(class_path=class_path(component))),
      input_dict or {})


def test_only_transform_parses_and_only_where_every_column_is_a_sparse_tensor():
  from tfx_bsl.tfxio import tf_example_record  # pylint: disable=g-import-not-at-top
  tfxio = tf_example_record.TFExampleRecord('unread', schema=MIXED_SCHEMA)
  for component, parses in ((Transform, True), (StatisticsGen, False), (Evaluator, False)):
    prepare_for(component)
    assert (process_tuning.parsing_decoder(tfxio) is not None) is parses, component
  prepare_for(Transform)
  dense = text_format.Parse('feature { name: "fare" type: FLOAT shape { dim { size: 1 } } presence { min_fraction: 1 } }',
                            schema_pb2.Schema())
  assert process_tuning.parsing_decoder(tf_example_record.TFExampleRecord('unread', schema=dense)) is None
  process_tuning.batch_records_for(executable_spec_pb2.PythonClassExecutableSpec(class_path='conftest.Executor'), {})
  assert process_tuning.parsing_decoder(tfxio) is None


def recorded_examples(tmp_path):
  """An Examples artifact of 700 taxi rows with a column without a value ('pool'), written by our ExampleGen's
  encoder into its train split, with the features of its examples recorded; and its records."""
  header, rows = taxi_rows()
  files = [str(write_csv(tmp_path / 'csv' / 'data.csv', header + ['pool'], [list(r) + [''] for r in rows[:700]])
               / 'data.csv')]
  empty_columns = example_gen.columns_without_values(files)
  records = list(example_gen.serialized_examples(files[0], empty_columns))
  (tmp_path / 'examples' / 'Split-train').mkdir(parents=True)
  write_tfrecords(tmp_path / 'examples' / 'Split-train' / 'data.gz', records, 'GZIP')
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  example_gen.record_feature_kinds(examples, files, empty_columns)
  return examples, records


def test_examples_that_record_their_features_parse_into_the_record_batches_tfx_bsl_decodes(tmp_path):
  from tfx_bsl.tfxio import tf_example_record  # pylint: disable=g-import-not-at-top
  examples, records = recorded_examples(tmp_path)
  pattern = str(tmp_path / 'examples' / 'Split-train' / '*')
  tfxio = tf_example_record.TFExampleRecord(pattern)  # no schema: StatisticsGen's
  decoder = compat.example_batch_decoder(tfxio)
  decoder.setup()
  prepare_for(StatisticsGen, {'examples': [examples]})
  parse = process_tuning.parsing_decoder(tfxio)
  for batch in (records[:300], records[300:]):
    expected = list(decoder.process(batch))[0]
    assert parse(batch).equals(expected)
  assert expected.column(expected.schema.get_field_index('pool')).null_count == len(batch)
  assert any([] in column.to_pylist() for column in expected.columns)  # empty cells: empty lists, not nulls

  not_recorded = standard_artifacts.Examples()
  not_recorded.uri = examples.uri
  for tfxio, inputs in ((tf_example_record.TFExampleRecord(pattern, schema=TAXI_SCHEMA), [examples]),
                        (tf_example_record.TFExampleRecord(pattern, raw_record_column_name='raw'), [examples]),
                        (tf_example_record.TFExampleRecord(str(tmp_path / 'other' / '*')), [examples]),
                        (tfxio, [not_recorded])):
    prepare_for(StatisticsGen, {'examples': inputs})
    assert process_tuning.parsing_decoder(tfxio) is None


def counting_parse(rows_file, records, columns):
  """parse_examples, adding the number of records parsed to a file."""
  with open(rows_file, 'a', encoding='utf-8') as f:
    f.write(f'{len(records)}\n')
  return parse_examples(records, columns)


def test_statistics_of_parsed_examples_are_those_of_decoded_ones(tensorflow_reads_tfrecords, monkeypatch):
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  from tfx_bsl.tfxio import tf_example_record  # pylint: disable=g-import-not-at-top
  examples, records = recorded_examples(tensorflow_reads_tfrecords)
  parsed_rows = tensorflow_reads_tfrecords / 'parsed_rows.txt'  # a file: Beam pickles the functions it runs
  monkeypatch.setattr(process_tuning, 'parse_examples', functools.partial(counting_parse, parsed_rows))
  prepare_for(StatisticsGen, {'examples': [examples]})
  tfxio = tf_example_record.TFExampleRecord(str(tensorflow_reads_tfrecords / 'examples' / 'Split-train' / '*'))
  statistics = {}
  for how in ('parsed', 'decoded'):
    path = str(tensorflow_reads_tfrecords / f'{how}.pb')
    with beam.Pipeline() as pipeline:
      _ = (pipeline | tfxio.BeamSource() | tfdv.GenerateStatistics(tfdv.StatsOptions())
           | tfdv.WriteStatisticsToBinaryFile(path))
    statistics[how] = tfdv.load_stats_binary(path)
    assert sum(map(int, parsed_rows.read_text().split())) == len(records)
    process_tuning.ParsingSettings.feature_kinds = {}  # tfx_bsl decodes the second time
  assert statistics['parsed'] == statistics['decoded']
  pool = next(f for f in statistics['parsed'].datasets[0].features if f.path.step == ['pool'])
  assert pool.string_stats.common_stats.num_missing == statistics['parsed'].datasets[0].num_examples == 700
