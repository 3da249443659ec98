"""The executor worker process: it runs real TFX executors, returns their outputs and errors, dies with its parent."""
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO_ROOT, execution, wait_until_ready
from pipeline.local import executor_worker
from pipeline.gates.data import DataValidationError


def test_the_worker_runs_an_executor_in_its_own_process_and_returns_its_output(worker, tmp_path):
  spec, info = execution(tmp_path, 'hello')
  output = worker.run(spec, info)
  pid, _, _, text = (tmp_path / 'model' / 'pid').read_text().split()
  assert text == 'hello' and int(pid) == worker.pid != os.getpid()
  [artifact] = output.output_artifacts['model'].artifacts
  assert artifact.custom_properties['text'].string_value == 'hello'


def test_what_an_executor_raises_in_the_worker_is_raised_here(worker, tmp_path):
  with pytest.raises(DataValidationError, match='the gate stopped it'):
    worker.run(*execution(tmp_path, 'fail'))
  spec, info = execution(tmp_path, 'after')  # and the worker goes on
  worker.run(spec, info)
  assert (tmp_path / 'model' / 'pid').read_text().endswith('after')


def test_the_worker_dies_with_a_killed_parent():
  parent = subprocess.Popen(
      [sys.executable, '-c', 'import logging\nimport time\nfrom pipeline.local import executor_worker\n'
       'worker = executor_worker.ExecutorWorker(logging.WARNING)\nprint(worker.pid, flush=True)\ntime.sleep(600)'],
      cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
  worker_pid = int(parent.stdout.readline())
  time.sleep(2)  # it asks to die with its parent first thing
  os.kill(parent.pid, signal.SIGKILL)
  parent.wait()
  deadline = time.monotonic() + 3  # well before it would finish loading its libraries and notice the closed pipe
  while os.path.exists(f'/proc/{worker_pid}') and open(f'/proc/{worker_pid}/stat').read().split()[2] != 'Z':
    assert time.monotonic() < deadline, 'the worker outlived its killed parent'
    time.sleep(0.1)


def test_a_worker_that_died_is_not_ready_and_says_so_when_used(tmp_path):
  with executor_worker.started(logging.WARNING) as worker:
    wait_until_ready(worker)
    os.kill(worker.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while worker.ready():
      assert time.monotonic() < deadline, 'a killed worker still looks ready'
      time.sleep(0.1)
    with pytest.raises(RuntimeError, match=f'worker process died \\(exit code -{signal.SIGKILL.value}\\)'):
      worker.run(*execution(tmp_path, 'hello'))



def test_auto_starts_the_worker_from_the_threshold_on_and_off_whatever_the_rows():
  below, at = executor_worker.WORKER_MIN_ROWS - 1, executor_worker.WORKER_MIN_ROWS
  assert [executor_worker.wanted('auto', rows) for rows in (0, below, at, 100 * at)] == [False, False, True, True]
  assert executor_worker.wanted('on', 0) and not executor_worker.wanted('off', 100 * at)
  with pytest.raises(ValueError, match="--side-by-side takes one of auto, on, off, not 'yes'"):
    executor_worker.wanted('yes', at)
