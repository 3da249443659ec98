"""The console of a command: the few lines meant for people, while what the libraries write goes to a log file.

TensorFlow, absl, Beam and google-api-core write warnings through Python's logging and warnings, through print, and
from C++ straight to file descriptor 2, some of it while TensorFlow loads, in this process and in the processes it
starts (the executor worker, Beam's workers). quiet() points file descriptors 1 and 2, sys.stdout and sys.stderr at
the log file, so all of that lands there, and hands out a Console that writes to the terminal as it was before.
"""
from __future__ import annotations

import contextlib
import datetime
import logging
import os
import sys
import threading
import traceback
from typing import Iterator, List, Optional, TextIO

LOGS_DIR = 'logs'
RUN_ID_FORMAT = '%Y%m%d-%H%M%S'


class Console:
  """Writes whole lines to the terminal, from any thread; `log_path` is where the libraries' output went, if
  anywhere, and `log` that file, open."""

  def __init__(self, out: Optional[TextIO] = None, err: Optional[TextIO] = None, log: Optional[TextIO] = None,
               log_path: str = ''):
    self._out, self._err, self.log, self.log_path = out, err, log, log_path
    self._lock = threading.Lock()

  def say(self, text: str) -> None:
    """Prints text (one line or several) on the console's standard output."""
    self._write(self._out or sys.stdout, text)

  def error(self, text: str) -> None:
    """Prints text on the console's standard error."""
    self._write(self._err or sys.stderr, text)

  def to_log(self, text: str) -> None:
    """Appends text to the log file; nothing without one."""
    if self.log is not None:
      self._write(self.log, text)

  def _write(self, stream: TextIO, text: str) -> None:
    with self._lock:
      stream.write(text + '\n')
      stream.flush()


def new_log_path(root: str, run_id: str = '') -> str:
  """A new, empty log file: <root>/logs/<run id>.log (by default the time, YYYYMMDD-HHMMSS), with -2, -3 ... after
  the run id when that name is taken."""
  directory = os.path.join(root, LOGS_DIR)
  os.makedirs(directory, exist_ok=True)
  stem = run_id or datetime.datetime.now().strftime(RUN_ID_FORMAT)
  for n in range(1, 1000):
    path = os.path.join(directory, f'{stem}.log' if n == 1 else f'{stem}-{n}.log')
    try:
      os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
      return path
    except FileExistsError:
      continue
  raise FileExistsError(f'{directory}: 999 log files named {stem}*.log already')


def terminal(stream: TextIO, fd: int) -> Optional[TextIO]:
  """A stream of its own onto what fd is now, when stream writes to fd; None when it writes elsewhere (a test's
  capture), which then stays the console."""
  try:
    if stream.fileno() != fd:
      return None
  except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both OSError and ValueError
    return None
  return os.fdopen(os.dup(fd), 'w', buffering=1, encoding=stream.encoding, errors=stream.errors)


def handlers_on(stream: TextIO) -> List[logging.StreamHandler]:
  """The logging handlers, of any logger, that write to stream."""
  loggers = [logging.getLogger()] + [l for l in logging.Logger.manager.loggerDict.values()
                                     if isinstance(l, logging.Logger)]
  return [h for l in loggers for h in l.handlers if isinstance(h, logging.StreamHandler) and h.stream is stream]


@contextlib.contextmanager
def quiet(log_path: str) -> Iterator[Console]:
  """For the block, whatever this process and those it starts write to stdout and stderr goes to log_path
  (appended); the Console yielded writes where stdout and stderr went before. Restored afterwards, also when the
  block raises (whose traceback the log gets too)."""
  log = open(log_path, 'a', buffering=1, encoding='utf-8',  # pylint: disable=consider-using-with  (closed below)
              errors='backslashreplace')
  streams = sys.stdout, sys.stderr
  for stream in streams:
    stream.flush()
  own = terminal(sys.stdout, 1), terminal(sys.stderr, 2)
  saved = os.dup(1), os.dup(2)
  console = Console(own[0] or sys.stdout, own[1] or sys.stderr, log, log_path)
  try:
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    yield console
  except BaseException as e:
    if not isinstance(e, SystemExit):
      console.to_log(''.join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip())
    raise
  finally:
    log.flush()
    sys.stdout, sys.stderr = streams
    for fd, copy in zip((1, 2), saved):
      os.dup2(copy, fd)
      os.close(copy)
    for handler in handlers_on(log):  # a handler set up in the block, such as the root one logging.warning makes
      handler.setStream(streams[1])
    for stream in own:
      if stream is not None:
        stream.close()
    log.close()


@contextlib.contextmanager
def loud() -> Iterator[Console]:
  """The console as it is: libraries write on it too (--verbose)."""
  yield Console()


def for_command(log_path: str, verbose: bool) -> contextlib.AbstractContextManager:
  """loud() with --verbose, else quiet(log_path)."""
  return loud() if verbose else quiet(log_path)
