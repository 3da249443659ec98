"""Reading CSV input with Arrow as the declared columns: what ExampleGen reads, and what the input check tries first.

Only pyarrow and the feature declarations: the input check imports this before TensorFlow and TFX load.
"""
from __future__ import annotations

import csv
import io
import os
import re
from typing import Dict, Iterator, List, Optional

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv
from pyarrow import fs as pafs

from preprocessing import features
from preprocessing.features import RawType

HEADER_BYTES = 1 << 16  # enough for the header row.
TEXT_ENCODING = 'utf-8-sig'  # UTF-8, with or without the byte-order mark spreadsheet programs write.
INT_CELL = re.compile(r'\s*(-?\d+|0[xX][0-9a-fA-F]+)\s*')  # what Arrow reads as an int64: no '+', '_' or exponent
FLOAT_CELL = re.compile(r'\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*')  # finite float64s as Arrow reads them
BLOCK_BYTES = 1 << 20  # rows are parsed and encoded about 8,000 at a time.
ARROW_TYPES = {RawType.INT: pa.int64(), RawType.FLOAT: pa.float64(), RawType.STRING: pa.binary()}


def open_file(path: str) -> pa.NativeFile:
  """A stream of a local file or of one on a filesystem Arrow knows (gs://, s3://, hdfs://)."""
  filesystem, inner_path = pafs.FileSystem.from_uri(path if '://' in path else os.path.abspath(path))
  return filesystem.open_input_stream(inner_path)


def header(path: str) -> List[str]:
  """The column names in a CSV file's first row."""
  with open_file(path) as f:
    return next(csv.reader(io.StringIO(f.read(HEADER_BYTES).decode(TEXT_ENCODING, errors='replace'))), [])


def column_types(names: List[str]) -> Dict[str, pa.DataType]:
  """The Arrow type each column is read as: declared in features.py, else bytes. Floats as Python's float()."""
  declared = {f.name: ARROW_TYPES[f.raw_type] for f in features.FEATURES}
  return {name: declared.get(name, pa.binary()) for name in names}


def conversion_error(path: str, names: List[str], error: pa.ArrowInvalid) -> ValueError:
  """A readable error for a cell Arrow could not read as its declared type, naming the file and the column."""
  message = str(error)
  number = re.search(r'column #(\d+)', message)
  if number and int(number.group(1)) < len(names):
    message = f"column '{names[int(number.group(1))]}': {message}"
  return ValueError(f'{path}: {message}')


def read_batches(path: str, types: Dict[str, pa.DataType]) -> Iterator[pa.RecordBatch]:
  """The rows of one CSV file with a header row, a block at a time, with empty cells as nulls."""
  convert_options = pa_csv.ConvertOptions(column_types=types, null_values=[''], strings_can_be_null=True,
                                          quoted_strings_can_be_null=True)
  with open_file(path) as f:
    try:
      yield from pa_csv.open_csv(f, read_options=pa_csv.ReadOptions(block_size=BLOCK_BYTES),
                                 parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                                 convert_options=convert_options)
    except pa.ArrowInvalid as error:
      raise conversion_error(path, list(types), error) from error


def declared_rows(path: str, names: List[str]) -> Optional[int]:
  """How many rows Arrow reads from a file with these columns as their declared types with UTF-8 text, or None when
  it cannot, or when a float column holds a value that is not finite (nan, inf)."""
  types = {name: pa.string() if kind == pa.binary() else kind for name, kind in column_types(names).items()}
  rows = 0
  try:
    for batch in read_batches(path, types):
      rows += batch.num_rows
      for column in batch.columns:
        if pa.types.is_floating(column.type) and pc.any(pc.invert(pc.is_finite(column))).as_py():
          return None
  except (ValueError, OSError, UnicodeDecodeError):  # pa.ArrowInvalid is a ValueError.
    return None
  return rows
