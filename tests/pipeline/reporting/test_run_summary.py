"""The run summary's reading of metrics, its wording and the exit codes."""
from pipeline.local import exit_codes
from pipeline.reporting import run_summary
from pipeline.gates.base import Anomaly, format_table
from pipeline.gates.data import DataValidationError

METRICS = {
    (): {'auc': 0.95, 'example_count': 3000, 'mean_label': 0.22},
    (('payment_type', 'Cash'),): {'auc': 0.0, 'example_count': 1900, 'mean_label': 0.0},
    (('payment_type', 'Credit Card'),): {'auc': 0.80, 'example_count': 1000, 'mean_label': 0.67},
    (('company', 'Tiny Cab'),): {'auc': 0.10, 'example_count': 12, 'mean_label': 0.5},
    (('company', 'Big Cab'),): {'auc': 0.91, 'example_count': 800, 'mean_label': 0.3},
}


def test_worst_slice_skips_single_class_and_tiny_slices():
  worst = run_summary.worst_slices(METRICS)
  assert worst['payment_type'] == ('payment_type=Credit Card', 0.80, 1000)
  assert worst['company'] == ('company=Big Cab', 0.91, 800)


def test_summary_says_why_a_model_was_not_blessed():
  summary = run_summary.RunSummary(run_id='r1', metrics=METRICS, blessed=False,
                              validation_failures=['auc on overall: value 0.8000 (threshold: at least 0.9)'])
  text = run_summary.format_summary(summary, None, 12.0)
  assert 'NOT BLESSED' in text and 'at least 0.9' in text and 'Pushed model' not in text
  assert exit_codes.exit_code(None) == exit_codes.OK


def test_gate_failure_prints_the_table_and_exits_2():
  table = format_table([Anomaly('train', 'trip_start_hour', 'Out-of-range values', 'Unexpectedly large value: 99.')])
  failure = DataValidationError(table)
  text = run_summary.format_summary(run_summary.RunSummary(run_id='r2'), failure, 3.0)
  assert 'STOPPED BY THE DATA GATE' in text and 'trip_start_hour' in text and 'Out-of-range values' in text
  assert exit_codes.exit_code(failure) == exit_codes.BAD_INPUT
  assert exit_codes.exit_code(RuntimeError('boom')) == exit_codes.FAILED
