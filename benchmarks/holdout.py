"""The sample rows that no benchmark run sees, and their labels, on which the pushed models are scored.

A row becomes a serving request with preprocessing/examples.py's to_tf_example (which leaves out the label sources);
its label is computed by the rule preprocessing/transform.py applies, so the benchmark scores the models on what
they were trained to predict.
"""
from __future__ import annotations

import zlib
from typing import List, Sequence, Tuple

from preprocessing import features

HOLDOUT_BUCKETS = 5  # one sample row in five is held back (tests/test_quality.py holds back the same rows).


def is_holdout(row: Sequence[str]) -> bool:
  """Whether a sample row is held back from every run: deterministic by content (tests/test_quality.py's rule)."""
  return zlib.crc32(','.join(row).encode()) % HOLDOUT_BUCKETS == 0


def split_holdout(rows: Sequence[List[str]]) -> Tuple[List[List[str]], List[List[str]]]:
  """(rows the pipelines may see, held-back rows)."""
  kept, held = [], []
  for row in rows:
    (held if is_holdout(row) else kept).append(row)
  return kept, held


def big_tipper(header: Sequence[str], row: Sequence[str]) -> int:
  """The label of a CSV row as preprocessing/transform.py computes it: tips > TIP_FRACTION * fare, both present."""
  values = dict(zip(header, row))
  tips, fare = values[features.TIPS], values[features.FARE]
  return int(tips != '' and fare != '' and float(tips) > features.TIP_FRACTION * float(fare))
