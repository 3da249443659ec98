"""CsvExampleGen's executor with a native read path: Arrow parses the CSV, tfx_bsl encodes the tf.Examples in C++.

TFX's own executor parses every line with Python's csv module, infers column types over all rows, then builds each
tf.train.Example in Python: about 2,000 rows per second here. This one reads blocks of rows with pyarrow's CSV
reader, with the column types declared in preprocessing/features.py, and writes the same examples: an int64 or
float list per numeric cell, a bytes list per string cell, an empty list of the column's type for an empty cell,
and a feature without a type where a column has no value at all.

Each row's split comes from a hash of its own cells (pandas' fixed-key hash of each value as its declared type,
combined over the columns by name), not of its serialized bytes as in TFX: the C++ encoder writes an example's
features in an order that changes from process to process, and the split must not; nor may it change when the same
rows are cut into other files or blocks. The outputs, artifact properties and lineage are CsvExampleGen's; where
this executor writes the examples itself and every file has the same columns, the Examples artifact also records
every feature of every example with its kind (FEATURE_KINDS), so that local runs parse them with TensorFlow
(pipeline/local/process_tuning.py).

InputOrderCsvExampleGen (batch inference) writes every row of the sorted files into its one split, in that order,
without a split or a shuffle, and records the files it read (INPUT_FILES), so that predictions can be joined back to
the rows they score.

Writing: on Beam's DirectRunner (local runs, and components in a KFP or Vertex container) TFX's Reshuffle would hold
every example in memory (4.5 GB at 1.5 M rows), so the executor shuffles on disk instead (disk_shuffle.py): each row
goes to one of SHUFFLE_BUCKETS temporary files by its hash, then each file in turn is read, permuted and appended to
the split's gzipped TFRecord file. Blocks of rows are hashed and encoded on ENCODE_THREADS threads (the encoder lets go
of the GIL) and written in file order. Any other runner (Dataflow, Flink, Spark) gets TFX's Beam write.
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen import utils, write_split
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import example_coder

from pipeline.ingest import disk_shuffle
from pipeline.ingest.csv_reading import column_types, header, read_batches
from pipeline.ingest.disk_shuffle import OUTPUT_FILE, SHUFFLE_BUCKETS, ordered_map

ENCODE_THREADS = min(4, os.cpu_count() or 1)  # tfx_bsl's encoder lets go of the GIL: blocks encode side by side.
DIRECT_RUNNERS = (None, 'DirectRunner', 'direct', 'BundleBasedDirectRunner', 'SwitchingDirectRunner')
EXAMPLE_TYPES = {pa.int64(): pa.int64(), pa.float64(): pa.float32(), pa.binary(): pa.binary()}  # FloatList: 32-bit
EXAMPLE_KINDS = {pa.int64(): 'int64_list', pa.float64(): 'float_list', pa.binary(): 'bytes_list'}  # a Feature's kind
EMPTY_CELL_HASH = np.uint64(0x9E3779B97F4A7C15)  # the hash of an empty cell, in a column of any type.
INPUT_FILES = 'input_files'  # InputOrderCsvExampleGen's Examples: the CSV files read, in order, as a JSON list.
FEATURE_KINDS = 'feature_kinds'  # Examples written here: every feature of every example, with its kind, as JSON.


def as_value_lists(batch: pa.RecordBatch, empty_columns: FrozenSet[str]) -> pa.RecordBatch:
  """Each column as one list per row: [value], or [] where the cell was empty.

  A column without a value in any file is a feature without a type in every example, as TFX writes it.
  """
  columns = []
  for name, column in zip(batch.schema.names, batch.columns):
    if name in empty_columns:
      columns.append(pa.nulls(len(column), pa.list_(pa.binary())))
      continue
    present = column.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(present)]).astype(np.int32)
    values = column.drop_null().cast(EXAMPLE_TYPES[column.type])
    columns.append(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values))
  return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def columns_without_values(paths: List[str]) -> FrozenSet[str]:
  """The columns with no value in any file; usually known from the first block of the first file."""
  empty = set(header(paths[0]))
  for path in paths:
    for batch in read_batches(path, {name: pa.binary() for name in header(path)}):
      empty -= {name for name, column in zip(batch.schema.names, batch.columns) if column.null_count < len(column)}
      if not empty:
        return frozenset()
  return frozenset(empty)


def feature_kinds(files: Sequence[str], empty_columns: FrozenSet[str]) -> Optional[Dict[str, Optional[str]]]:
  """The features that every example written from the files holds, each with its kind (None: a feature without a
  type, for a column without a value); None where the files' headers name other columns or a column twice."""
  names = header(files[0])
  if len(set(names)) != len(names) or any(sorted(header(path)) != sorted(names) for path in files[1:]):
    return None
  return {name: None if name in empty_columns else EXAMPLE_KINDS[kind] for name, kind in column_types(names).items()}


def record_feature_kinds(examples: Any, files: Sequence[str], empty_columns: FrozenSet[str]) -> None:
  """Records feature_kinds on an Examples artifact written from the files, where every example holds the same."""
  kinds = feature_kinds(files, empty_columns)
  if kinds is not None:
    examples.set_string_custom_property(FEATURE_KINDS, json.dumps(kinds, sort_keys=True))


def blocks(files: Sequence[str]) -> Iterator[pa.RecordBatch]:
  """The rows of CSV files with a header row, file after file, a block at a time, as their declared types."""
  for path in files:
    yield from read_batches(path, column_types(header(path)))


def encode(batch: pa.RecordBatch, empty_columns: FrozenSet[str]) -> List[bytes]:
  """A block's rows as serialized tf.Examples, in order."""
  return example_coder.RecordBatchToExamplesEncoder().encode(as_value_lists(batch, empty_columns))


def serialized_examples(path: str, empty_columns: FrozenSet[str] = frozenset()) -> Iterator[bytes]:
  """The serialized tf.Examples of one CSV file with a header row, in file order."""
  for batch in blocks([path]):
    yield from encode(batch, empty_columns)


def cell_hashes(column: pa.Array) -> np.ndarray:
  """A uint64 hash of each cell from its own value (one fixed hash for an empty cell), whatever its neighbours.

  Arrow keeps a column's declared type in every block; pandas would turn an int64 block with an empty cell into
  floats, and so change the hash of every other row of that block.
  """
  filler = b'' if pa.types.is_binary(column.type) else '' if pa.types.is_string(column.type) else 0
  hashes = pd.util.hash_array(column.fill_null(pa.scalar(filler, column.type)).to_numpy(zero_copy_only=False))
  return np.where(column.is_valid().to_numpy(zero_copy_only=False), hashes, EMPTY_CELL_HASH)


def mix(hashes: np.ndarray) -> np.ndarray:
  """splitmix64's finalizer: every bit of the result depends on every bit of the input."""
  hashes = (hashes ^ (hashes >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
  hashes = (hashes ^ (hashes >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
  return hashes ^ (hashes >> np.uint64(31))


def row_hashes(batch: pa.RecordBatch) -> np.ndarray:
  """A uint64 hash of each row from its own cells and their column names, in any column order, the same in every
  process, on every machine and however the rows are cut into files and blocks."""
  hashes = np.zeros(batch.num_rows, np.uint64)
  for name in sorted(batch.schema.names):
    column_hash = pd.util.hash_array(np.array([name], dtype=object))[0]
    hashes = mix(hashes * np.uint64(31) + (cell_hashes(batch.column(name)) ^ column_hash))
  return hashes


def split_of_rows(hashes: np.ndarray, boundaries: Sequence[int]) -> np.ndarray:
  """Each row's split index from its hash, over cumulative hash buckets.

  boundaries[i] is the sum of the hash buckets of splits 0..i, as in TFX's partition of a SplitConfig.
  """
  return np.searchsorted(np.asarray(boundaries, np.uint64), hashes % np.uint64(boundaries[-1]), side='right')


def shuffle_bucket_of_rows(hashes: np.ndarray, boundaries: Sequence[int]) -> np.ndarray:
  """Each row's temporary shuffle file, from bits of its hash that its split does not depend on."""
  return (hashes // np.uint64(boundaries[-1])) % np.uint64(SHUFFLE_BUCKETS)


def tagged_examples(path: str, split_names: Sequence[str], boundaries: Sequence[int],
                    empty_columns: FrozenSet[str]) -> Iterator[beam.pvalue.TaggedOutput]:
  """The serialized tf.Examples of one CSV file, each tagged with the name of its split."""
  for batch in blocks([path]):
    for split, example in zip(split_of_rows(row_hashes(batch), boundaries), encode(batch, empty_columns)):
      yield beam.pvalue.TaggedOutput(split_names[split], example)


def split_block(batch: pa.RecordBatch, boundaries: Sequence[int],
                empty_columns: FrozenSet[str]) -> disk_shuffle.BucketedRecords:
  """A block's serialized tf.Examples, framed as TFRecords and grouped by split and shuffle bucket."""
  hashes = row_hashes(batch)
  return disk_shuffle.bucketed(encode(batch, empty_columns), split_of_rows(hashes, boundaries),
                               shuffle_bucket_of_rows(hashes, boundaries))


def write_shuffled_splits(files: Sequence[str], split_dirs: Sequence[str], boundaries: Sequence[int],
                          empty_columns: FrozenSet[str]) -> None:
  """Writes each row of the CSV files to its split's directory, in a shuffled order (disk_shuffle.py), the blocks
  encoded on ENCODE_THREADS threads. The order is the same on every run over the same files."""
  disk_shuffle.write_shuffled_splits(
      ordered_map(functools.partial(split_block, boundaries=boundaries, empty_columns=empty_columns),
                  blocks(files), ENCODE_THREADS), split_dirs)


def matching_files(input_base: str, split_pattern: str) -> List[str]:
  """The files of one input split, sorted; an error naming the pattern when there are none."""
  pattern = os.path.join(input_base, split_pattern)
  files = sorted(fileio.glob(pattern))
  if not files:
    raise RuntimeError(f'Split pattern {pattern} does not match any files.')
  return files


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _CsvToSerializedExamples(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],  # pylint: disable=invalid-name
                             split_pattern: str) -> beam.PCollection:
  """Every row of the CSV files matching the split pattern under input_base, as a serialized tf.Example."""
  files = matching_files(exec_properties['input_base'], split_pattern)
  return (pipeline
          | 'CsvFiles' >> beam.Create(files)
          | 'ToExamples' >> beam.FlatMap(serialized_examples, columns_without_values(files)))


def hashed_splits(exec_properties: Dict[str, Any]) -> Optional[Tuple[List[str], List[int], List[str]]]:
  """(split names, cumulative hash buckets, input files) of an output split config; None where TFX's way applies.

  TFX's way: input splits kept as they are, or a split by one feature's value (partition_feature_name).
  """
  input_config = proto_utils.json_to_proto(
      exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
  output_config = proto_utils.json_to_proto(
      exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], example_gen_pb2.Output())
  split_config = output_config.split_config
  if not split_config.splits or split_config.HasField('partition_feature_name'):
    return None
  return (utils.generate_output_split_names(input_config, output_config),
          np.cumsum([split.hash_buckets for split in split_config.splits]).tolist(),
          matching_files(exec_properties['input_base'], input_config.splits[0].pattern))


def runs_on_direct_runner(beam_pipeline_args: Optional[List[str]]) -> bool:
  """Whether Beam arguments leave the runner as the local DirectRunner."""
  return PipelineOptions(beam_pipeline_args or []).view_as(StandardOptions).runner in DIRECT_RUNNERS


class Executor(BaseExampleGenExecutor):
  """CsvExampleGen's executor, reading CSV natively and splitting by row values (see the module docstring)."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _CsvToSerializedExamples

  def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                             exec_properties: Dict[str, Any]) -> Dict[str, beam.PCollection]:
    """The serialized examples of each output split, for TFX's Beam write."""
    splits = hashed_splits(exec_properties)
    if splits is None:
      return super().GenerateExamplesByBeam(pipeline, exec_properties)
    split_names, boundaries, files = splits
    tagged = (pipeline
              | 'CsvFiles' >> beam.Create(files)
              | 'ToSplitExamples' >> beam.FlatMap(tagged_examples, split_names, boundaries,
                                                  columns_without_values(files)).with_outputs(*split_names))
    return {name: tagged[name] for name in split_names}

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    """Writes the splits with the on-disk shuffle on the DirectRunner, else as TFX does, with TFX's properties."""
    splits = hashed_splits(exec_properties)
    if splits is None or not runs_on_direct_runner(self._beam_pipeline_args):
      super().Do(input_dict, output_dict, exec_properties)
      return
    self._log_startup(input_dict, output_dict, exec_properties)
    split_names, boundaries, files = splits
    examples = output_dict[standard_component_specs.EXAMPLES_KEY]
    artifact_utils.get_single_instance(examples).split_names = artifact_utils.encode_split_names(split_names)
    empty_columns = columns_without_values(files)
    write_shuffled_splits(files, [artifact_utils.get_split_uri(examples, name) for name in split_names],
                          boundaries, empty_columns)
    payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
    file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
    for artifact in examples:
      record_feature_kinds(artifact, files, empty_columns)
      if payload_format:
        examples_utils.set_payload_format(artifact, payload_format)
      if file_format:
        examples_utils.set_file_format(artifact, write_split.to_file_format_str(file_format))


class ArrowCsvExampleGen(FileBasedExampleGen):
  """CsvExampleGen's parameters, driver (spans, versions) and outputs, with the native executor."""
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)


def framed_rows(batch: pa.RecordBatch, empty_columns: FrozenSet[str]) -> bytes:
  """A block's rows as serialized tf.Examples framed as TFRecords, in order."""
  return disk_shuffle.framed_tfrecords(encode(batch, empty_columns))[0]


def write_in_order(files: Sequence[str], split_dir: str, empty_columns: FrozenSet[str]) -> None:
  """Writes every row of the CSV files, file after file and row after row, to one gzipped TFRecord file of a split
  directory, the blocks encoded on ENCODE_THREADS threads."""
  fileio.makedirs(split_dir)
  disk_shuffle.write_gzipped(os.path.join(split_dir, OUTPUT_FILE), ordered_map(
      functools.partial(framed_rows, empty_columns=empty_columns), blocks(files), ENCODE_THREADS))


def input_files(examples: Any) -> List[str]:
  """The CSV files an InputOrderCsvExampleGen read into an Examples artifact, in the order of its rows."""
  return json.loads(examples.get_string_custom_property(INPUT_FILES) or '[]')


class InputOrderExecutor(Executor):
  """Writes the rows of one input split's files (sorted by name) in input order, into one output split of the same
  name; no hash split, no shuffle. Any runner: the rows are written by this process, one after another."""

  def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
         exec_properties: Dict[str, Any]) -> None:
    """Writes the split and records its input files on the Examples artifact, with TFX's properties."""
    self._log_startup(input_dict, output_dict, exec_properties)
    input_config = proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], example_gen_pb2.Input())
    if len(input_config.splits) != 1:
      raise ValueError(f'InputOrderCsvExampleGen reads one input split, not {len(input_config.splits)}')
    split = input_config.splits[0]
    files = matching_files(exec_properties['input_base'], split.pattern)
    examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
    examples.split_names = artifact_utils.encode_split_names([split.name])
    empty_columns = columns_without_values(files)
    write_in_order(files, artifact_utils.get_split_uri([examples], split.name), empty_columns)
    examples.set_string_custom_property(INPUT_FILES, json.dumps(files))
    record_feature_kinds(examples, files, empty_columns)
    examples_utils.set_payload_format(
        examples, exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        or example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(examples, write_split.to_file_format_str(example_gen_pb2.FORMAT_TFRECORDS_GZIP))


class InputOrderCsvExampleGen(FileBasedExampleGen):
  """CsvExampleGen's parameters, driver and outputs; its one split holds the rows in input order (batch inference)."""
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(InputOrderExecutor)
