"""One local run at a time per output root: a second one fails at once with a clear message."""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
from typing import Iterator

LOCK_FILE = '.run.lock'


class OutputRootBusyError(RuntimeError):
  """Another run holds the output root."""


@contextlib.contextmanager
def exclusive(output_root: str) -> Iterator[None]:
  """Holds an advisory lock on output_root for the duration; the OS releases it if the process dies."""
  os.makedirs(output_root, exist_ok=True)
  with open(os.path.join(output_root, LOCK_FILE), 'a+', encoding='utf-8') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or 'unknown process'
      raise OutputRootBusyError(
          f'another run is using {output_root} ({holder}); wait for it to finish, or pass another '
          '--output-root') from None
    f.seek(0)
    f.truncate()
    f.write(f'pid {os.getpid()}, started {datetime.datetime.now().isoformat(timespec="seconds")}\n')
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)
