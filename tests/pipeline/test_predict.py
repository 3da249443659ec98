"""python -m pipeline.predict as a user runs it: the latest pushed model, the output, the exit codes."""
import csv
import subprocess
import sys

from conftest import REPO_ROOT, taxi_rows
from models.contract import PREDICTED_CLASS_COLUMN, PROBABILITY_COLUMN
from test_local_runner import LIBRARY_OUTPUT


def predict(*args):
  return subprocess.run([sys.executable, '-m', 'pipeline.predict', *args], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=600, check=False)


def write_rows(path, header, rows):
  with open(path, 'w', newline='', encoding='utf-8') as f:
    csv.writer(f).writerows([header, *rows])
  return str(path)


def test_the_command_scores_a_file_with_the_latest_model_and_refuses_bad_input(e2e_run, tmp_path):
  header, rows = taxi_rows()
  source = write_rows(tmp_path / 'trips.csv', header, rows[:200])
  output = tmp_path / 'scored.csv'
  process = predict('--output-root', str(e2e_run[0]), '--input', source, '--output', str(output),
                    '--batch-size', '64')
  assert process.returncode == 0, process.stdout + process.stderr
  assert process.stdout.startswith(f'Scored 200 rows of {source} with {e2e_run[0]}/serving_model/')
  assert process.stderr == ''  # no library output, and no progress bar when stderr is not a terminal
  with open(output, newline='', encoding='utf-8') as f:
    scored = list(csv.reader(f))
  assert scored[0] == header + [PROBABILITY_COLUMN, PREDICTED_CLASS_COLUMN] and len(scored) == 201
  assert all(0 <= float(r[-2]) <= 1 for r in scored[1:])

  bad = [list(r) for r in rows[:200]]
  bad[150][header.index('fare')] = '12,50'
  process = predict('--output-root', str(e2e_run[0]), '--input', write_rows(tmp_path / 'bad.csv', header, bad),
                    '--output', str(tmp_path / 'bad_scored.csv'), '--batch-size', '64')
  assert process.returncode == 2
  assert process.stderr == f"error: {tmp_path}/bad.csv: line 152, column fare: '12,50' is not a FLOAT value\n"
  assert not [line for line in process.stderr.splitlines() if LIBRARY_OUTPUT.search(line)]
  assert sorted(p.name for p in tmp_path.iterdir()) == ['bad.csv', 'scored.csv', 'trips.csv']
