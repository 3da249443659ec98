"""The sample rows that no benchmark run sees, as the serving requests and labels the pushed models are scored on.

Which columns a request leaves out and how a row's label is computed come from preprocessing/features.py (and the
rule preprocessing/transform.py applies), so the benchmark scores the models on what they were trained to predict.
"""
from __future__ import annotations

import zlib
from typing import List, Sequence, Tuple

from preprocessing import features

HOLDOUT_BUCKETS = 5  # one sample row in five is held back (tests/test_quality.py holds back the same rows).
NOT_SERVED = tuple(f.name for f in features.FEATURES if f.name not in features.serving_columns())  # label sources.


def is_holdout(row: Sequence[str]) -> bool:
  """Whether a sample row is held back from every run: deterministic by content (tests/test_quality.py's rule)."""
  return zlib.crc32(','.join(row).encode()) % HOLDOUT_BUCKETS == 0


def split_holdout(rows: Sequence[List[str]]) -> Tuple[List[List[str]], List[List[str]]]:
  """(rows the pipelines may see, held-back rows)."""
  kept, held = [], []
  for row in rows:
    (held if is_holdout(row) else kept).append(row)
  return kept, held


def to_tf_example(header: Sequence[str], row: Sequence[str], drop: Sequence[str] = NOT_SERVED) -> bytes:
  """A serialized raw tf.Example of a CSV row typed as preprocessing/features.py declares; empty cells absent."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  feature = {}
  for name, cell in zip(header, row):
    if cell == '' or name in drop:
      continue
    raw_type = features.feature(name).raw_type
    if raw_type == features.RawType.STRING:
      feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[cell.encode()]))
    elif raw_type == features.RawType.INT:
      feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(cell))]))
    else:
      feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(cell)]))
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def big_tipper(header: Sequence[str], row: Sequence[str]) -> int:
  """The label of a CSV row as preprocessing/transform.py computes it: tips > TIP_FRACTION * fare, both present."""
  values = dict(zip(header, row))
  tips, fare = values[features.TIPS], values[features.FARE]
  return int(tips != '' and fare != '' and float(tips) > features.TIP_FRACTION * float(fare))
