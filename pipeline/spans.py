"""Span folders (span-1/, span-2/, ...) under a data root: ExampleGen ingests one span per run, the latest."""
from __future__ import annotations

import os
import re
from typing import Iterable, List

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
