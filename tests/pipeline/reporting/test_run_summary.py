"""The run summary's reading of metrics, its wording and the exit codes."""
from pipeline import metadata
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


def test_a_row_per_start_and_end_of_a_component_lines_up_with_the_summary_table():
  assert run_summary.format_row('Trainer', 'STARTED') == 'Trainer                         started'
  assert run_summary.format_row('Trainer', 'CACHED', 0.04) == 'Trainer                         cached         0.0'
  assert len(run_summary.format_row('Trainer', 'COMPLETE', 12.3)) == len(run_summary.TABLE_HEADING)
  assert run_summary.format_header('r1').splitlines() == ['Run r1', '', run_summary.TABLE_HEADING]


def test_a_summary_after_rows_printed_as_they_ran_names_the_log_and_repeats_no_component():
  summary = run_summary.RunSummary(run_id='r3', components=[metadata.ComponentRun('Trainer', 'COMPLETE', 9.0, {})])
  text = run_summary.format_summary(summary, RuntimeError('boom'), 10.0, '/out/logs/r3.log', components=False)
  assert 'Trainer' not in text and 'Run r3' not in text
  assert text.startswith('whole run (wall clock)')
  assert text.endswith('RUN FAILED: RuntimeError: boom\nLog: /out/logs/r3.log (with the traceback of the failure)')
  whole = run_summary.format_summary(summary, None, 10.0)
  assert whole.startswith('Run r3\n\ncomponent') and 'Trainer                         complete       9.0' in whole
  assert 'Log:' not in whole
