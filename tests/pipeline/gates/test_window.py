"""Continuous training over span folders: a rolling window with backfill, drift between spans, warm starts."""
import json
from pathlib import Path

import pytest

from conftest import latest_run, pushed_model_dir, run_local, taxi_rows, tree_digest, write_csv
from pipeline import metadata
from pipeline.local import exit_codes

SPAN_ROWS = 1500
STEPS = '100'


def write_span(data_root: Path, span: int, payment_type: str = '') -> None:
  """Span `span` of every 8th row of the sample (spans share its distribution), optionally all of one payment type."""
  header, rows = taxi_rows()
  payment = header.index('payment_type')
  picked = rows[span::8][:SPAN_ROWS]
  if payment_type:
    picked = [r[:payment] + [payment_type] + r[payment + 1:] for r in picked]
  write_csv(data_root / f'span-{span}' / 'data.csv', header, picked)


def run_window(data_root: Path, output_root: Path, *flags: str):
  return run_local('--data-root', str(data_root), '--output-root', str(output_root), '--window', '2',
                   '--train-steps', STEPS, *flags)


def spans_of(artifacts) -> list:
  return sorted(metadata.int_property(a, 'span') for a in artifacts)


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
  root = tmp_path_factory.mktemp('window')
  return root / 'data', root / 'out'


@pytest.fixture(scope='module')
def first_window(roots):
  """span-1 and span-2 on a fresh output root with --window 2."""
  data_root, output_root = roots
  write_span(data_root, 1)
  write_span(data_root, 2)
  return run_window(data_root, output_root)


def test_older_spans_of_the_window_are_backfilled_and_trained_on(roots, first_window):
  _, output_root = roots
  assert first_window.returncode == exit_codes.OK, first_window.stdout + first_window.stderr
  assert 'Backfilling span-1 of the --window 2' in first_window.stdout
  assert 'Trained on span(s): 1, 2' in first_window.stdout
  run = latest_run(output_root)
  assert spans_of(run.component('CsvExampleGen').outputs['examples']) == [2]
  assert spans_of(run.component('Transform').inputs['examples']) == [1, 2]
  assert len(run.component('Trainer').inputs['examples']) == 2
  assert spans_of(run.component('Evaluator').inputs['examples']) == [2]  # evaluated on the new span.
  assert run.pushed_path


def test_a_drifted_span_stops_and_a_later_window_leaves_it_out(roots, first_window):
  data_root, output_root = roots
  served = tree_digest(output_root / 'serving_model')
  first_model = latest_run(output_root).component('Trainer').outputs['model'][0].uri
  write_span(data_root, 3, payment_type='Credit Card')
  drifted = run_window(data_root, output_root)
  assert drifted.returncode == exit_codes.BAD_INPUT, drifted.stdout + drifted.stderr
  assert 'STOPPED BY THE DRIFT GATE' in drifted.stdout and 'payment_type' in drifted.stdout
  assert 'Served data: Cash' in drifted.stdout and 'New data: Credit Card 100.0 %' in drifted.stdout
  assert tree_digest(output_root / 'serving_model') == served

  write_span(data_root, 4)
  warm = run_window(data_root, output_root, '--warm-start')
  assert warm.returncode == exit_codes.OK, warm.stdout + warm.stderr
  assert 'Backfilling' not in warm.stdout  # span-3 was ingested, then stopped: not ingested again.
  run = latest_run(output_root)
  assert spans_of(run.component('Transform').inputs['examples']) == [2, 4]
  record = json.loads((Path(run.component('Trainer').outputs['model'][0].uri) / 'warm_start.json').read_text())
  assert record['base_model'] == str(Path(first_model) / 'Format-Serving')
  assert any(name.startswith('company_id_embedding') for name in record['copied'])
  assert 'Warm start: ' in warm.stdout
  assert run.component('Evaluator').inputs.get('baseline_model')
  if run.pushed_path:
    assert Path(run.pushed_path) == pushed_model_dir(output_root)
