"""Span folders (span-1/, span-2/, ...) under a data root: ExampleGen ingests one span per run, the latest."""
from __future__ import annotations

import glob
import os
import re
from typing import Iterable, List, Optional

CSV_PATTERN = '*.csv'
SPAN_FOLDER = re.compile(r'^span-(0|[1-9]\d*)$')
LOOKS_LIKE_SPAN = re.compile(r'^span-?\d+$', re.IGNORECASE)
SPAN_PATTERN = 'span-{SPAN}/' + CSV_PATTERN  # ExampleGen's placeholder: it takes the largest span number.


def span_numbers(data_root: str) -> List[int]:
  """The span numbers of the span-N folders directly under a data root, ascending."""
  if not os.path.isdir(data_root):
    return []
  return sorted(int(m.group(1)) for m in map(SPAN_FOLDER.match, os.listdir(data_root))
                if m and os.path.isdir(os.path.join(data_root, m.group(0))))


def csv_files(data_root: str, span: Optional[int] = None) -> List[str]:
  """The CSV files ExampleGen reads from a data root: those of a span (default: the latest) if it has spans."""
  spans = span_numbers(data_root)
  folder = span_dir(data_root, spans[-1] if span is None else span) if spans else data_root
  return sorted(glob.glob(os.path.join(folder, CSV_PATTERN)))


def estimated_rows(paths: Iterable[str], sample_bytes: int = 1 << 16) -> int:
  """About how many rows the CSV files hold: their size over the mean line length of the first file's start."""
  paths = list(paths)
  if not paths:
    return 0
  with open(paths[0], 'rb') as f:
    sample = f.read(sample_bytes)
  lines = max(sample.count(b'\n'), 1)
  return round(sum(os.path.getsize(p) for p in paths) * lines / max(len(sample), 1))


def span_dir(data_root: str, span: int) -> str:
  """The folder of one span."""
  return os.path.join(data_root, f'span-{span}')


def misnamed_span_folders(data_root: str) -> List[str]:
  """Folders that look like spans but that ExampleGen would not read as one (span-01: leading zero)."""
  if not os.path.isdir(data_root):
    return []
  return sorted(name for name in os.listdir(data_root)
                if LOOKS_LIKE_SPAN.match(name) and not SPAN_FOLDER.match(name))


def input_pattern(data_root: str) -> str:
  """The ExampleGen input pattern: the latest span folder's CSVs when there are span folders, else *.csv."""
  return SPAN_PATTERN if span_numbers(data_root) else CSV_PATTERN


def window_spans(spans: Iterable[int], window: int) -> List[int]:
  """The newest `window` of the given span numbers, ascending."""
  return sorted(set(spans))[-window:] if window > 0 else []
