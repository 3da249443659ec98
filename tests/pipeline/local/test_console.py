"""The console of a command: its own lines on the terminal, everything the libraries write in the log file."""
import logging
import subprocess
import sys

from conftest import REPO_ROOT
from pipeline.local import console

NOISY_BLOCK = """
import logging, os, subprocess, sys, warnings
from pipeline.local import console
with console.quiet(sys.argv[1]) as out:
  out.say('for people')
  out.error('an error for people')
  print('a print of a library')
  os.write(2, b'E0000 a C++ log line\\n')
  logging.warning('a Python log line')
  warnings.warn('a Python warning')
  subprocess.run([sys.executable, '-c', 'import sys; print("a child on stdout"); sys.stderr.write("a child says")'])
  {last}
print('after the block')
"""


def run_block(log, last='pass') -> subprocess.CompletedProcess:
  """NOISY_BLOCK in a Python process of its own, as a command runs (file descriptors 1 and 2 are pipes)."""
  return subprocess.run([sys.executable, '-c', NOISY_BLOCK.replace('{last}', last), str(log)], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=60, check=False)


def test_what_libraries_and_child_processes_write_goes_to_the_log_and_the_console_lines_to_the_terminal(tmp_path):
  process = run_block(tmp_path / 'run.log')
  assert process.returncode == 0, process.stderr
  assert process.stdout == 'for people\nafter the block\n'
  assert process.stderr == 'an error for people\n'
  log = (tmp_path / 'run.log').read_text()
  for line in ('a print of a library', 'E0000 a C++ log line', 'WARNING:root:a Python log line',
               'UserWarning: a Python warning', 'a child on stdout', 'a child says'):
    assert line in log
  assert 'for people' not in log


def test_a_block_that_raises_restores_the_terminal_and_leaves_the_traceback_in_the_log_too(tmp_path):
  process = run_block(tmp_path / 'run.log', last="raise ValueError('the reason')")
  assert process.returncode == 1
  assert process.stdout == 'for people\n'
  assert process.stderr.startswith('an error for people\nTraceback') and 'ValueError: the reason' in process.stderr
  assert 'ValueError: the reason' in (tmp_path / 'run.log').read_text()


def test_where_the_terminal_is_captured_the_capture_stays_the_console(tmp_path, capsys):
  with console.quiet(str(tmp_path / 'run.log')) as out:
    out.say('for people')
    print('a print of a library')
    logging.getLogger('a.library').addHandler(logging.StreamHandler(sys.stderr))  # made in the block
  assert capsys.readouterr().out == 'for people\n'
  assert (tmp_path / 'run.log').read_text() == 'a print of a library\n'
  handler = logging.getLogger('a.library').handlers.pop()
  assert handler.stream is sys.stderr  # not the closed log file


def test_verbose_leaves_the_console_as_it_is(capsys):
  with console.for_command('', verbose=True) as out:
    out.say('for people')
    print('a print of a library')
  assert capsys.readouterr().out == 'for people\na print of a library\n'


def test_each_log_file_is_new_and_named_after_the_run(tmp_path):
  assert console.new_log_path(str(tmp_path), 'r1') == str(tmp_path / 'logs' / 'r1.log')
  assert console.new_log_path(str(tmp_path), 'r1') == str(tmp_path / 'logs' / 'r1-2.log')
  timed = console.new_log_path(str(tmp_path))
  assert len((tmp_path / 'logs' / timed).name) == len('20261202-043000.log')
