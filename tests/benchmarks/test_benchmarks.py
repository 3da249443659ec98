"""The benchmark's data generator and the pure helpers of its runner's modules (fast: no pipeline run, no timing)."""
import csv
import datetime
import re

import pytest

from benchmarks import generate, holdout, measure, results, serving, tables, template
from pipeline.local import replay
from preprocessing import features

ROWS = 3000
CATEGORICAL = ('payment_type', 'company', 'pickup_community_area', 'dropoff_community_area',
               'pickup_census_tract', 'dropoff_census_tract')


@pytest.fixture(scope='module')
def sample():
  return generate.read_csv(generate.sample_path())


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
  out = tmp_path_factory.mktemp('generated')
  paths = generate.generate(ROWS, out, seed=7, files=2)
  tables = [generate.read_csv(p) for p in paths]
  return paths, tables[0][0], [row for _, rows in tables for row in rows]


def column(header, rows, name):
  i = header.index(name)
  return [row[i] for row in rows]


def test_header_row_count_and_files(sample, generated):
  paths, header, rows = generated
  assert header == sample[0]
  assert len(rows) == ROWS
  assert [p.name for p in paths] == ['part-00000-of-00002.csv', 'part-00001-of-00002.csv']
  assert all(len(row) == len(header) for row in rows)


def test_categories_come_from_the_sample(sample, generated):
  _, header, rows = generated
  for name in CATEGORICAL:
    assert set(column(header, rows, name)) <= set(column(*sample, name)), name


def test_missing_cells_stay_missing_and_present_ones_present(sample, generated):
  _, header, rows = generated
  for name in header:
    if '' not in column(*sample, name):
      assert '' not in column(header, rows, name), name


def test_numbers_are_plausible(generated):
  _, header, rows = generated
  for name in ('fare', 'tips', 'trip_miles'):
    values = [float(v) for v in column(header, rows, name) if v != '']
    assert min(values) >= 0 and max(values) < 5000, name
  seconds = [v for v in column(header, rows, 'trip_seconds') if v != '']
  assert all(v.isdigit() for v in seconds)
  fares = [float(v) for v in column(header, rows, 'fare')]
  assert 5 < sum(fares) / len(fares) < 20
  labels = [holdout.big_tipper(header, row) for row in rows]
  assert 0.15 < sum(labels) / len(labels) < 0.30  # the sample's share of big tippers is 0.22.


def test_timestamps_match_hour_weekday_and_month(generated):
  _, header, rows = generated
  for row in rows:
    values = dict(zip(header, row))
    moment = datetime.datetime.fromtimestamp(int(values['trip_start_timestamp']), datetime.timezone.utc)
    assert int(values['trip_start_hour']) == moment.hour
    assert int(values['trip_start_day']) == moment.isoweekday() % 7 + 1  # 1 = Sunday
    assert int(values['trip_start_month']) == moment.month
    assert int(values['trip_start_timestamp']) % generate.TIME_GRID_SECONDS == 0


def test_the_sample_itself_matches_the_calendar_rule(sample):
  import numpy as np  # pylint: disable=g-import-not-at-top
  header, rows = sample
  hours, days, months = generate.calendar_fields(np.array(column(header, rows, 'trip_start_timestamp'), dtype=np.int64))
  assert list(hours) == [int(v) for v in column(header, rows, 'trip_start_hour')]
  assert list(days) == [int(v) for v in column(header, rows, 'trip_start_day')]
  assert list(months) == [int(v) for v in column(header, rows, 'trip_start_month')]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
  first = generate.generate(200, tmp_path / 'a', seed=3)[0].read_bytes()
  assert generate.generate(200, tmp_path / 'b', seed=3)[0].read_bytes() == first
  assert generate.generate(200, tmp_path / 'c', seed=4)[0].read_bytes() != first


def test_command_line(tmp_path, capsys):
  assert generate.main(['--rows', '10', '--out', str(tmp_path), '--files', '3']) == 0
  paths = sorted(tmp_path.glob('*.csv'))
  assert len(paths) == 3 and str(paths[0]) in capsys.readouterr().out
  with open(paths[0], newline='') as f:
    assert len(list(csv.reader(f))) == 1 + 4


def test_split_evenly_and_chunks():
  assert generate.split_evenly(10, 3) == [4, 3, 3]
  assert list(generate.chunk_sizes(120_000, 50_000)) == [50_000, 50_000, 20_000]


def test_percentile_interpolates_like_numpy():
  values = [5.0, 1.0, 3.0, 2.0, 4.0]
  assert serving.percentile(values, 50) == 3.0
  assert serving.percentile(values, 0) == 1.0 and serving.percentile(values, 100) == 5.0
  assert serving.percentile(values, 99) == pytest.approx(4.96)
  with pytest.raises(ValueError):
    serving.percentile([], 50)


def test_models_are_measured_side_by_side_each_with_its_own_figures():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def light(examples):
    return tf.strings.length(examples)

  def heavy(examples):
    for _ in range(30):
      examples = tf.strings.join([examples, 'z'])
    return tf.strings.length(examples)

  fast, slow = serving.measure_serving([(light, b'x' * 50, [b'y' * 50]), (heavy, b'x' * 50, [b'y' * 50])])
  assert set(fast) == set(slow) == {'p50_ms', 'p99_ms', 'batch_examples_per_s'}
  assert fast['p50_ms'] < slow['p50_ms'] <= slow['p99_ms']
  assert fast['batch_examples_per_s'] > slow['batch_examples_per_s'] > 0


def test_ratio_and_throughput():
  assert tables.ratio(30.0, 60.0) == 0.5
  assert tables.ratio(None, 60.0) is None and tables.ratio(1.0, 0.0) is None
  assert tables.rows_per_second(1000, 4.0) == 250.0
  assert tables.rows_per_second(1000, None) is None and tables.rows_per_second(1000, 0.0) is None


def test_sizes():
  assert results.parse_sizes('1,10,0.1') == [1.0, 10.0, 0.1]
  with pytest.raises(ValueError):
    results.parse_sizes('1,-2')
  assert results.rows_for_size(10) == 150_020 and results.rows_for_size(0.1) == 1500
  assert results.size_label(0.1) == '0.1x' and results.size_label(10.0) == '10x'
  assert results.cached_size([10.0, 1.0]) == 1.0 and results.cached_size([0.5, 0.1]) == 0.1


def test_holdout_split_is_by_content(sample):
  kept, held = holdout.split_holdout(sample[1])
  assert len(kept) + len(held) == len(sample[1])
  assert 0.15 < len(held) / len(sample[1]) < 0.25
  assert all(holdout.is_holdout(r) for r in held) and not any(holdout.is_holdout(r) for r in kept)


def test_format_table_is_aligned_markdown():
  text = tables.format_table(['', 'a', 'bb'], [['x', '1', '22'], ['long name', '333', '4']])
  lines = text.splitlines()
  assert len({len(line) for line in lines}) == 1
  assert lines[0].startswith('| ') and lines[1].startswith('|:-') and lines[1].endswith(':|')
  assert lines[3] == '| long name | 333 |  4 |'


def fake_result(pipeline, size, seconds, components):
  measured = measure.Measured(seconds, 2**30, 0, None)
  return results.RunResult(pipeline, size, 1000, measured, components, {n: 'COMPLETE' for n in components},
                       peak_component='Transform', auc=0.96)


def test_cold_run_table_has_components_ratios_and_throughput():
  cold = [fake_result(results.OURS, 1.0, 30.0, {'CsvExampleGen': 2.0, 'DataGate': 1.0}),
          fake_result(results.TEMPLATE, 1.0, 60.0, {'CsvExampleGen': 8.0, 'SchemaGen': 3.0})]
  header, rows = tables.cold_run_table(cold, [1.0])
  assert header == ['', 'ours 1x', 'template 1x', 'ratio']
  by_label = {row[0]: row[1:] for row in rows}
  assert by_label['CsvExampleGen (s)'] == ['2.0', '8.0', '0.25x']
  assert by_label['DataGate (s)'] == ['1.0', '-', '-']
  assert by_label['SchemaGen (s)'] == ['-', '3.0', '-']
  assert by_label['**wall clock (s)**'] == ['30.0', '60.0', '0.50x']
  assert by_label['peak memory (MB)'] == ['1,024', '1,024', '1.00x']
  assert by_label['peak memory during'] == ['Transform', 'Transform', '']
  assert by_label['CsvExampleGen rows/s'] == ['500', '125', '4.00x']
  assert by_label['holdout AUC'] == ['0.9600', '0.9600', '']


def test_rerun_table_says_which_reruns_were_replayed_and_what_ran_again(tmp_path):
  reruns = []
  for number, (states, console) in enumerate([
      ({'DriftGate': 'COMPLETE', 'Trainer': 'CACHED', 'baseline_model_resolver': 'COMPLETE'}, 'Run x'),
      ({'DriftGate': 'CACHED', 'Trainer': 'CACHED'}, f'{replay.REPLAYED} 2026-12-02T10:00:00 (code, ...)')], 1):
    log = tmp_path / f'rerun{number}.log'
    log.write_text(console)
    reruns.append(results.RunResult(results.OURS, 1.0, 1000, measure.Measured(number * 2.0, 2**28, 0, log),
                                    {'DriftGate': 0.1}, states))
  header, rows = tables.rerun_table(reruns)
  assert header[:5] == ['rerun', 'wall clock (s)', 'how', 'components cached', 'ran again']
  assert rows[0][:5] == ['ours 1x #1', '2.0', 'TFX', '1 of 3', 'DriftGate 0.1 s']
  assert rows[1][:6] == ['ours 1x #2', '4.0', 'replayed', '2 of 2', 'none', '256']


def test_notes_name_the_commit_measured():
  notes = tables.run_notes(100, 20, 0, 1, 0.5)
  assert re.fullmatch(r'code: commit [0-9a-f]{7,}(, with uncommitted changes)?', notes[-1]), notes[-1]


def test_extrapolation_follows_the_line_through_the_two_largest_sizes_and_never_falls():
  assert tables.extrapolate(1000, (10, 5.0), (100, 50.0)) == pytest.approx(500.0)
  assert tables.extrapolate(1000, (10, 40.0), (100, 38.0)) == 38.0  # fixed work (the Trainer's steps) stays


def test_a_size_only_ours_ran_at_is_set_beside_the_templates_estimate():
  templates = [fake_result(results.TEMPLATE, size, seconds, {'CsvExampleGen': seconds - 20.0, 'Trainer': 15.0})
               for size, seconds in ((1.0, 30.0), (10.0, 120.0), (100.0, 1020.0))]
  for run, rows in zip(templates, (1000, 10_000, 100_000)):
    run.rows = rows
  ours = fake_result(results.OURS, 1000.0, 900.0, {'CsvExampleGen': 500.0, 'DataGate': 0.4, 'Trainer': 10.0})
  ours.rows = 1_000_000
  header, rows = tables.ours_only_table(ours, templates)
  assert header == ['', 'ours 1000x', 'ours 1000x rows/s', 'template 1000x, estimated from 10x, 100x', 'ratio']
  by_label = {row[0]: row[1:] for row in rows}
  assert by_label['CsvExampleGen (s)'] == ['500.0', '2,000', '10,000.0', '0.05x']  # 1000 s per 100,000 rows
  assert by_label['Trainer (s)'] == ['10.0', '-', '15.0', '0.67x']  # it reads the steps' rows, not every row
  assert by_label['DataGate (s)'][:2] == ['0.4', '-']  # it reads until both label classes show up
  assert by_label['**wall clock (s)**'] == ['900.0', '1,111', '10,020.0', '0.09x']  # + the 5 s of overhead at 100x
  assert by_label['peak memory (MB)'][0] == '1,024'


def test_the_component_at_a_moment_is_the_one_running_then():
  spans = {'CsvExampleGen': (100.0, 110.0), 'DataGate': (110.0, 110.5), 'Transform': (111.0, 130.0)}
  assert measure.component_at(spans, 105.0) == 'CsvExampleGen'
  assert measure.component_at(spans, 110.0) == 'DataGate'  # the later of two that touch
  assert measure.component_at(spans, 129.0) == 'Transform'
  assert measure.component_at(spans, 140.0) == ''
  assert measure.component_at({}, 105.0) == ''


def test_cold_run_table_without_template():
  header, rows = tables.cold_run_table([fake_result(results.OURS, 0.1, 10.0, {'Transform': 4.0})], [0.1])
  assert header == ['', 'ours 0.1x']
  assert ['Transform (s)', '4.0'] in rows


def test_template_patches_enable_every_step():
  pipeline = '\n'.join([
      'def create_pipeline():',
      '  components = []',
      '  # components.append(statistics_gen)',
      '  if schema_path is None:',
      '    # components.append(schema_gen)',
      '  else:',
      '    # Performs anomaly detection based on statistics and data schema.',
      '    example_validator = make()',
      '    # components.append(example_validator)',
      ''] + [f'  # components.append({c})' for c in ('transform', 'trainer', 'model_resolver', 'evaluator',
                                                      'pusher')]) + '\n'
  patched = template.enable_every_step(pipeline)
  assert '  example_validator = make()\n  components.append(example_validator)\n' in patched
  assert '# components.append' not in patched
  with pytest.raises(RuntimeError):
    template.enable_every_step('components = []\n')


def test_template_runner_points_at_data_and_outputs(tmp_path):
  source = "OUTPUT_DIR = '.'\nDATA_PATH = os.path.join(os.path.dirname(__file__), 'data')\n"
  patched = template.point_runner_at(source, tmp_path / 'data', tmp_path / 'out')
  assert patched == f"OUTPUT_DIR = {str(tmp_path / 'out')!r}\nDATA_PATH = {str(tmp_path / 'data')!r}\n"
  with pytest.raises(RuntimeError):
    template.point_runner_at('nothing here\n', tmp_path, tmp_path)


def test_big_tipper_is_the_rule_features_declares():
  header = ['trip_miles', features.FARE, features.TIPS]
  just_over, just_under = features.TIP_FRACTION * 10 + 0.01, features.TIP_FRACTION * 10 - 0.01
  assert holdout.big_tipper(header, ['1.5', '10', str(just_over)]) == 1
  assert holdout.big_tipper(header, ['1.5', '10', str(just_under)]) == 0
  assert holdout.big_tipper(header, ['1.5', '10', str(features.TIP_FRACTION * 10)]) == 0  # above, not equal
  assert holdout.big_tipper(header, ['1.5', '', '5']) == 0 and holdout.big_tipper(header, ['1.5', '10', '']) == 0
