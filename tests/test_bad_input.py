"""Every kind of bad --data-root stops the run before Pusher, says what is wrong, and leaves serving untouched."""
import re

import pytest

from conftest import latest_run, run_local, taxi_rows, tree_digest, write_csv
from pipeline.local import exit_codes

ROWS = 1000


@pytest.fixture(scope='module')
def served(served_root):
  """The copied output root and its serving dir's digest before any test here ran."""
  return served_root, tree_digest(served_root / 'serving_model')


def with_column(header, rows, column, value, every):
  """Rows with `column` set to `value` in every `every`-th row."""
  i = header.index(column)
  return [r[:i] + [value] + r[i + 1:] if k % every == 0 else r for k, r in enumerate(rows)]


def without_column(header, rows, column):
  i = header.index(column)
  return header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in rows]


def run_on(served, data_root):
  output_root, before = served
  process = run_local('--data-root', str(data_root), '--output-root', str(output_root))
  assert tree_digest(output_root / 'serving_model') == before, 'the served model changed'
  return process


def write_rows(tmp_path, header, rows):
  return write_csv(tmp_path / 'data' / 'data.csv', header, rows)


def sample():
  header, rows = taxi_rows()
  return header, rows[:ROWS]


def test_required_column_missing(tmp_path, served):
  header, rows = without_column(*sample(), 'trip_miles')
  process = run_on(served, write_rows(tmp_path, header, rows))
  assert process.returncode == exit_codes.BAD_INPUT
  assert "column 'trip_miles': required column is missing" in process.stderr
  assert 'data.csv line 1' in process.stderr


def test_label_column_absent_from_training_data(tmp_path, served):
  header, rows = without_column(*sample(), 'tips')
  process = run_on(served, write_rows(tmp_path, header, rows))
  assert process.returncode == exit_codes.BAD_INPUT
  assert "column 'tips': the label source column is missing" in process.stderr


def test_unexpected_new_column(tmp_path, served):
  header, rows = sample()
  process = run_on(served, write_rows(tmp_path, header + ['driver_rating'], [r + ['5'] for r in rows]))
  assert process.returncode == exit_codes.BAD_INPUT
  assert "column 'driver_rating': unexpected column" in process.stderr


def test_text_in_a_numeric_column(tmp_path, served):
  header, rows = sample()
  process = run_on(served, write_rows(tmp_path, header, with_column(header, rows, 'fare', 'twelve', 50)))
  assert process.returncode == exit_codes.BAD_INPUT
  assert "data.csv line 2, column 'fare': expected a number, found 'twelve' (20 of 1000 rows, 2.00 %)" in (
      process.stderr)


def test_numbers_the_reader_would_refuse_stop_before_any_component(tmp_path, served):
  header, rows = sample()
  process = run_on(served, write_rows(tmp_path, header, with_column(header, rows, 'trip_start_hour', '+5', 100)))
  assert process.returncode == exit_codes.BAD_INPUT  # not a failed ExampleGen (exit 1) with Arrow's message
  assert "data.csv line 2, column 'trip_start_hour': expected an integer, found '+5' (10 of 1000 rows, 1.00 %)" in (
      process.stderr)
  assert 'Run ' not in process.stdout  # nothing ran


def test_ragged_rows_name_the_line(tmp_path, served):
  header, rows = sample()
  rows[9] = rows[9][:-3]
  process = run_on(served, write_rows(tmp_path, header, rows))
  assert process.returncode == exit_codes.BAD_INPUT
  assert 'data.csv line 11: expected 18 fields, found 15 (1 of 1000 rows' in process.stderr


def test_unparsable_csv_names_the_line(tmp_path, served):
  header, rows = sample()
  data_root = write_rows(tmp_path, header, rows[:5])
  with open(data_root / 'data.csv', 'a', encoding='utf-8') as f:
    f.write('1,"unterminated quote\n')
  process = run_on(served, data_root)
  assert process.returncode == exit_codes.BAD_INPUT
  assert 'unparsable CSV' in process.stderr and 'line 7' in process.stderr


def test_empty_file_and_empty_directory(tmp_path, served):
  (tmp_path / 'empty').mkdir()
  process = run_on(served, tmp_path / 'empty')
  assert process.returncode == exit_codes.BAD_INPUT and 'holds no *.csv file' in process.stderr
  (tmp_path / 'empty' / 'data.csv').write_text('')
  process = run_on(served, tmp_path / 'empty')
  assert process.returncode == exit_codes.BAD_INPUT and 'file is empty' in process.stderr


def test_non_existent_path(tmp_path, served):
  process = run_on(served, tmp_path / 'nowhere')
  assert process.returncode == exit_codes.BAD_INPUT
  assert f'{tmp_path / "nowhere"}: directory does not exist' in process.stderr


@pytest.mark.parametrize('column, value, every, anomaly, offending', [
    ('payment_type', 'Bitcoin', 10, 'Unexpected string values',
     "column 'payment_type': expected one of the 7 values of its schema domain, found 'Bitcoin' (100 of 1000 rows"),
    ('trip_start_hour', '99', 10, 'Out-of-range values',
     "column 'trip_start_hour': expected a value in [0, 23], found '99' (100 of 1000 rows, 10.00 %)"),
    ('company', '', 1, 'Column dropped',
     "column 'company': present in 0.0 % of rows, the schema requires at least 50 %"),
])
def test_schema_problems_are_stopped_by_the_gate_before_training(tmp_path, served, column, value, every,
                                                                 anomaly, offending):
  header, rows = sample()
  process = run_on(served, write_rows(tmp_path, header, with_column(header, rows, column, value, every)))
  assert process.returncode == exit_codes.BAD_INPUT, process.stdout + process.stderr
  assert 'STOPPED BY THE DATA GATE' in process.stdout
  assert anomaly in process.stdout and offending in process.stdout
  ran = {c.node_id for c in latest_run(served[0]).components}
  assert 'DataGate' in ran and not ran & {'Trainer', 'Evaluator', 'Pusher'}


def test_a_split_with_one_label_class_is_stopped_by_the_data_gate(tmp_path, served):
  header, rows = sample()
  process = run_on(served, write_rows(tmp_path, header, with_column(header, rows, 'tips', '0', 1)))
  assert process.returncode == exit_codes.BAD_INPUT, process.stdout + process.stderr
  assert 'STOPPED BY THE DATA GATE' in process.stdout
  counts = re.findall(r'(train|eval) +big_tipper +One label class only +0: ([\d,]+) examples, 1: 0 examples',
                      process.stdout)
  assert {split for split, _ in counts} == {'train', 'eval'}, process.stdout
  assert sum(int(n.replace(',', '')) for _, n in counts) == ROWS
  assert 'Data anomalies: none' not in process.stdout  # the gate's table says what it found
  report = (served[0] / 'report.html').read_text()
  assert 'One label class only' in report and 'Data anomalies</h2><p class="ok">None.' not in report
  ran = {c.node_id for c in latest_run(served[0]).components}
  assert 'DataGate' in ran and not ran & {'Trainer', 'Evaluator', 'Pusher'}
