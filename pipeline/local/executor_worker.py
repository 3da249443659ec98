"""A second Python process that runs TFX executors, for ConcurrentDagRunner (pipeline/local/concurrent_runner.py).

It starts before anything heavy is imported here, so that it loads TensorFlow, Beam, TFDV and TFT on the other core
while this process loads them too and runs ExampleGen. It dies with this process, even one killed with SIGKILL.

A run over fewer than WORKER_MIN_ROWS input rows starts none (wanted): its executors run one after the other in the
runner's process. On the default data the worker saved about 2 s of 18 and held about 0.65 GB; at 10x it saved 3-5 s
of 26 (README, What makes it fast).
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import pickle
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Iterator

from models import keras_choice
from pipeline import compat
from pipeline.local import process_tuning

if TYPE_CHECKING:
  from google.protobuf import message
  from tfx.orchestration.portable import data_types
  from tfx.proto.orchestration import execution_result_pb2

PRELOADED = ('tensorflow', 'apache_beam', 'tensorflow_data_validation', 'tensorflow_transform.beam',
             'tfx.components.statistics_gen.executor', 'tfx.components.transform.executor',
             'tfx.orchestration.portable.launcher')
READY = 'ready'
SIDE_BY_SIDE = ('auto', 'on', 'off')  # local_runner.py's --side-by-side
WORKER_MIN_ROWS = 50_000  # input rows from which a run starts the worker with --side-by-side auto (default data: 15,002)


def die_with_parent() -> None:
  """Asks Linux to kill this process when the process that started it dies."""
  if sys.platform.startswith('linux'):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def picklable(error: BaseException) -> BaseException:
  """The error itself when it survives pickling, else a RuntimeError carrying its traceback."""
  try:
    pickle.loads(pickle.dumps(error))
    return error
  except Exception:  # pylint: disable=broad-except
    return RuntimeError(''.join(traceback.format_exception(type(error), error, error.__traceback__)))


def run_executor_here(spec: message.Message, info: data_types.ExecutionInfo) -> execution_result_pb2.ExecutorOutput:
  """Runs an executor in this process with TFX's own operator for its kind of spec."""
  from tfx.orchestration.portable import launcher  # pylint: disable=g-import-not-at-top
  process_tuning.batch_records_for(spec, info.input_dict)
  operator = launcher.DEFAULT_EXECUTOR_OPERATORS[type(spec)](executor_spec=spec, platform_config=None)
  return operator.run_executor(info)


def serve_executors(connection: Connection, log_level: int) -> None:
  """The worker's loop: loads the libraries, says it is ready, then runs each executor it is sent."""
  die_with_parent()
  process_tuning.limit_malloc_arenas()  # before TensorFlow and Beam start their threads
  logging.getLogger().setLevel(log_level)
  keras_choice.use_tf_keras()  # before TensorFlow loads, whoever started this process
  process_tuning.defer_garbage_collection()
  compat.load_components_on_first_use()
  for name in PRELOADED:
    __import__(name)
  import absl.logging  # pylint: disable=g-import-not-at-top
  from tfx.orchestration.portable import data_types  # pylint: disable=g-import-not-at-top
  from tfx.proto.orchestration import executable_spec_pb2  # pylint: disable=g-import-not-at-top
  from tfx.proto.orchestration import execution_invocation_pb2  # pylint: disable=g-import-not-at-top
  absl.logging.set_verbosity(absl.logging.INFO if log_level <= logging.INFO else absl.logging.WARNING)
  process_tuning.tune()
  connection.send((READY, None))
  while True:
    try:
      spec_type, spec, invocation = connection.recv()
    except EOFError:
      return
    try:
      info = data_types.ExecutionInfo.from_proto(execution_invocation_pb2.ExecutionInvocation.FromString(invocation))
      output = run_executor_here(getattr(executable_spec_pb2, spec_type).FromString(spec), info)
      connection.send(('output', output.SerializeToString()))
    except BaseException as e:  # pylint: disable=broad-except  (the runner raises it again)
      connection.send(('error', picklable(e)))


class ExecutorWorker:
  """The worker process and this end of its pipe: one executor at a time."""

  def __init__(self, log_level: int):
    context = multiprocessing.get_context('spawn')
    self._connection, child = context.Pipe()
    self._process = context.Process(target=serve_executors, args=(child, log_level), daemon=True,
                                    name='executor-worker')
    self._process.start()
    child.close()
    self._ready = False
    self._closed = False

  @property
  def pid(self) -> int:
    return self._process.pid

  def ready(self) -> bool:
    """Whether the worker is alive and has loaded its libraries; never waits."""
    if self._closed or not self._process.is_alive():
      return False
    if not self._ready and self._connection.poll():
      self._ready = self._connection.recv()[0] == READY
    return self._ready

  def run(self, spec: message.Message, info: data_types.ExecutionInfo) -> execution_result_pb2.ExecutorOutput:
    """Runs an executor in the worker and returns its output, or raises what it raised."""
    from tfx.proto.orchestration import execution_result_pb2  # pylint: disable=g-import-not-at-top,redefined-outer-name
    try:
      self._connection.send((type(spec).__name__, spec.SerializeToString(), info.to_proto().SerializeToString()))
      status, payload = self._connection.recv()
    except (EOFError, BrokenPipeError):
      self._process.join(timeout=5)
      raise RuntimeError(f'the executor worker process died (exit code {self._process.exitcode})') from None
    if status == 'error':
      raise payload
    return execution_result_pb2.ExecutorOutput.FromString(payload)

  def close(self) -> None:
    """Stops the worker, busy or not; once stopped, it is never ready."""
    self._closed = True
    self._connection.close()
    self._process.kill()
    self._process.join()


@contextlib.contextmanager
def started(log_level: int) -> Iterator[ExecutorWorker]:
  """A worker for the duration of the block."""
  worker = ExecutorWorker(log_level)
  try:
    yield worker
  finally:
    worker.close()


def wanted(side_by_side: str, rows: int) -> bool:
  """Whether a run starts the worker: local_runner.py's --side-by-side on or off, or auto: from WORKER_MIN_ROWS input
  rows."""
  if side_by_side not in SIDE_BY_SIDE:
    raise ValueError(f'--side-by-side takes one of {", ".join(SIDE_BY_SIDE)}, not {side_by_side!r}')
  return side_by_side == 'on' or (side_by_side == 'auto' and rows >= WORKER_MIN_ROWS)
