"""One run per output root."""
import subprocess
import sys
import time

import pytest

from pipeline.local import run_lock


def test_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
  with run_lock.exclusive(str(tmp_path)):
    child = subprocess.run(
        [sys.executable, '-c',
         f'from pipeline.local import run_lock\nwith run_lock.exclusive({str(tmp_path)!r}): pass'],
        capture_output=True, text=True, check=False)
    assert child.returncode != 0 and 'another run is using' in child.stderr and 'pid' in child.stderr
  with run_lock.exclusive(str(tmp_path)):
    pass


def test_lock_of_a_killed_process_is_released(tmp_path):
  holder = subprocess.Popen([sys.executable, '-c',
                             f'import time\nfrom pipeline.local import run_lock\n'
                             f'with run_lock.exclusive({str(tmp_path)!r}):\n  print("held", flush=True)\n'
                             f'  time.sleep(60)'], stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == 'held'
  with pytest.raises(run_lock.OutputRootBusyError):
    with run_lock.exclusive(str(tmp_path)):
      pass
  holder.kill()
  holder.wait()
  time.sleep(0.1)
  with run_lock.exclusive(str(tmp_path)):
    pass
