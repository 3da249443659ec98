"""Raw rows as the serialized tf.Examples the serving signature takes, typed as features.py declares each column.

Shared by the scoring command, the serving warm-up requests, the REST request body and the benchmark's held-back
rows, so that every client encodes a row the way ExampleGen encoded the rows the model was trained on.
"""
from __future__ import annotations

from typing import Sequence

from preprocessing import features

NOT_SERVED = tuple(f.name for f in features.FEATURES if f.name not in features.serving_columns())  # label sources.


class CellError(ValueError):
  """A cell that is not a value of its column's declared type; names the column and the value."""

  def __init__(self, column: str, value: str, raw_type: features.RawType):
    super().__init__(f'column {column}: {value!r} is not {"an" if raw_type == features.RawType.INT else "a"} '
                     f'{raw_type.name} value')
    self.column, self.value = column, value


def to_tf_example(header: Sequence[str], row: Sequence[str], drop: Sequence[str] = NOT_SERVED) -> bytes:
  """A serialized raw tf.Example of a CSV row typed as preprocessing/features.py declares; empty cells absent.

  Columns in drop and columns features.py does not declare are left out; CellError names a cell that does not
  parse as its column's type.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  declared = set(features.serving_columns()) | set(NOT_SERVED)
  feature = {}
  for name, cell in zip(header, row):
    if cell == '' or name in drop or name not in declared:
      continue
    raw_type = features.feature(name).raw_type
    try:
      if raw_type == features.RawType.STRING:
        feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[cell.encode()]))
      elif raw_type == features.RawType.INT:
        feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(cell))]))
      else:
        feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(cell)]))
    except (ValueError, OverflowError):
      raise CellError(name, cell, raw_type) from None
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def serving_example(serialized: bytes) -> bytes:
  """A serialized tf.Example with only the columns a serving request carries (label sources and others removed)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  example = tf.train.Example.FromString(serialized)
  served = set(features.serving_columns())
  for name in [name for name in example.features.feature if name not in served]:
    del example.features.feature[name]
  return example.SerializeToString(deterministic=True)
