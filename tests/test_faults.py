"""A killed run resumes from the cache, a concurrent run on the same output root is refused."""
import os
import subprocess
import sys
import time

from conftest import REPO_ROOT, latest_run, run_local
from pipeline.local import exit_codes, run_lock

UPSTREAM_OF_TRAINER = {'CsvExampleGen', 'StatisticsGen', 'CuratedSchemaGen', 'ExampleValidator', 'DataGate',
                       'DriftGate', 'Transform'}


def wait_for(condition, seconds: float, what: str) -> None:
  deadline = time.monotonic() + seconds
  while not condition():
    assert time.monotonic() < deadline, f'timed out waiting for {what}'
    time.sleep(0.5)


def is_locked(output_root) -> bool:
  """Whether a run holds output_root's lock (a probe that finds it free takes it for a moment)."""
  try:
    with run_lock.exclusive(str(output_root)):
      return False
  except run_lock.OutputRootBusyError:
    return True


def test_killed_run_resumes_and_a_concurrent_run_is_refused(tmp_path, small_data_root):
  output_root = tmp_path / 'out'
  args = ('--data-root', str(small_data_root), '--output-root', str(output_root), '--train-steps', '150')
  first = subprocess.Popen([sys.executable, 'local_runner.py', *args], cwd=REPO_ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    lock = output_root / '.run.lock'
    wait_for(lambda: lock.exists() and 'pid' in lock.read_text(), 120, 'the first run to take the lock')
    trainer_outputs = output_root / 'pipeline' / 'Trainer' / 'model'

    def trainer_started_under_the_lock() -> bool:
      assert is_locked(output_root), 'the first run let go of its output root before its Trainer started'
      return trainer_outputs.exists()

    wait_for(trainer_started_under_the_lock, 600, 'the Trainer to start')
    second = run_local(*args)
    assert second.returncode == exit_codes.BUSY
    assert f'another run is using {output_root} (pid {first.pid}' in second.stderr
  finally:
    first.kill()
    first.wait()
  serving = output_root / 'serving_model'
  assert not serving.exists() or not os.listdir(serving)

  resumed = run_local(*args)
  assert resumed.returncode == exit_codes.OK, resumed.stdout + resumed.stderr
  states = {c.node_id: c.state for c in latest_run(output_root).components}
  assert {states[n] for n in UPSTREAM_OF_TRAINER} == {'CACHED'}, states
  assert {states[n] for n in ('Trainer', 'Evaluator', 'Pusher')} == {'COMPLETE'}, states
  assert len(os.listdir(serving)) == 1 and not os.listdir(serving)[0].startswith('.')
