"""pipeline/reporting/html_report.py: the report every local run writes, opened in headless Chromium, and its files."""
import math
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import system_packages
from conftest import pushed_model_dir
from pipeline import config as config_lib
from pipeline import metadata
from pipeline.gates.base import Anomaly, format_table
from pipeline.gates.data import DataValidationError
from pipeline.lineage import queries
from pipeline.reporting import curves, html_report, run_summary

CHROMIUM = 'chromium'
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--hide-scrollbars')
# Appended to a copy of the report: writes each image's decoded width into the DOM for --dump-dom to show.
IMAGE_PROBE = ('<script>window.addEventListener("load", () => { document.body.setAttribute("data-image-widths", '
               'Array.from(document.images).map(i => i.naturalWidth).join(",")); });</script>')


@pytest.fixture(scope='module')
def chromium() -> str:
  system_packages.require(CHROMIUM, CHROMIUM)
  return shutil.which(CHROMIUM)


def run_chromium(binary: str, profile, *args: str) -> subprocess.CompletedProcess:
  """Headless Chromium with a fresh profile and nothing that reaches the network on its own."""
  return subprocess.run([binary, *CHROMIUM_FLAGS, f'--user-data-dir={profile}', *args], capture_output=True,
                        text=True, timeout=120, check=True)


@pytest.fixture(scope='module')
def first_run(e2e_run) -> run_summary.RunSummary:
  store = metadata.open_uri(str(e2e_run[0] / config_lib.METADATA_FILE))
  return run_summary.summarize_run(store, metadata.run_contexts(store, config_lib.PIPELINE_NAME)[-1])


def test_the_run_report_is_self_contained_and_renders_the_metrics_in_chromium(e2e_run, first_run, chromium,
                                                                             tmp_path):
  output_root, process = e2e_run
  page = (output_root / html_report.report_file_name(first_run.run_id)).read_text()
  assert f'Report: {output_root / "report.html"}' in process.stdout
  assert not re.search(r'''(src|href)\s*=\s*["']?(https?:)?//''', page), 'the report must not load anything'
  probe = tmp_path / 'report.html'
  probe.write_text(page.replace('</body>', IMAGE_PROBE + '</body>'))
  dom = run_chromium(chromium, tmp_path / 'profile', '--virtual-time-budget=5000', '--dump-dom',
                     probe.as_uri()).stdout
  widths = re.search(r'data-image-widths="([\d,]*)"', dom).group(1).split(',')
  columns = ('company', 'payment_type', 'trip_start_hour')
  curve_charts = ('ROC curve', 'precision-recall curve', 'calibration (reliability) plot',
                  'score distribution per class')
  assert len(widths) == 2 + len(curve_charts) + len(columns), widths  # DAG, overall, curves, slices
  assert all(int(w) > 100 for w in widths), widths
  overall = first_run.metrics[()]
  for name in ('auc', 'binary_accuracy', 'precision', 'recall'):
    assert f'<td class="num">{overall[name]:.4f}</td>' in dom, name
  for column in columns:
    assert f'<h3>By {column} (' in dom
  for key, values in ((key, values) for key, values in first_run.metrics.items() if len(key) <= 1):
    low, high = curves.auc_interval(values['auc'], *curves.class_counts(values))  # n/a for one class
    name = key[0][1] if key else 'overall'
    assert (f'<td>{name}</td><td class="num">{int(values["example_count"])}</td><td class="num">'
            f'{html_report.number(values["auc"])}</td><td class="num">{html_report.number(low)}</td>'
            f'<td class="num">{html_report.number(high)}</td>') in dom, key
  for alt in curve_charts:
    assert f'alt="{alt}"' in dom
  plots = curves.read_plots(first_run.component('Evaluator').outputs['evaluation'][0].uri)[()]
  at_half = curves.at_threshold(plots.matrices, 0.5)  # the metrics' precision and recall are at 0.5
  assert (at_half['precision'], at_half['recall']) == pytest.approx((overall['precision'], overall['recall']))
  counts = [int(at_half[k]) for k in ('true_positives', 'false_positives', 'true_negatives', 'false_negatives')]
  assert sum(counts) == overall['example_count']
  assert '<tr><td>0.5</td>' + ''.join(f'<td class="num">{n}</td>' for n in counts) in dom
  assert '<h2>Overall AUC of the last 1 runs</h2>' in dom
  assert f'<td>{first_run.run_id} (this run)</td>' in dom
  assert 'BLESSED: every threshold' in dom and str(pushed_model_dir(output_root)) in dom
  assert 'Data anomalies</h2><p class="ok">None.' in dom
  assert '<h2>Hyperparameters</h2><p>Source: the defaults declared in models/</p>' in dom  # nothing tuned
  for name, value in first_run.hparams['hparams'].items():
    assert f'<tr><td>{name}</td><td>{html_report.esc(run_summary.hparam_text(value))}</td></tr>' in dom, name
  model = first_run.component('Trainer').outputs['model'][0]
  assert f'The pushed model: Model {model.id}' in dom and model.uri in dom
  shot = tmp_path / 'shot.png'
  run_chromium(chromium, tmp_path / 'profile2', '--window-size=1200,1600', f'--screenshot={shot}',
               (output_root / 'report.html').as_uri())
  colours = Image.open(shot).convert('RGB').getcolors(maxcolors=1 << 20)
  assert colours is not None and len(colours) > 50  # text, tables and charts, not a blank page


def test_each_run_keeps_its_own_report_beside_the_latest(tmp_path):
  html_report.write(str(tmp_path), '2026-01-01T10:00:00.1', '<p>first</p>')
  latest = html_report.write(str(tmp_path), '2026-01-02T10:00:00.2', '<p>second</p>')
  assert latest == tmp_path / 'report.html' and latest.read_text() == '<p>second</p>'
  assert (tmp_path / 'report-2026-01-01T10-00-00.1.html').read_text() == '<p>first</p>'
  assert sorted(p.name for p in tmp_path.iterdir()) == [
      'report-2026-01-01T10-00-00.1.html', 'report-2026-01-02T10-00-00.2.html', 'report.html']


def test_a_run_stopped_by_the_gate_reports_its_anomalies():
  anomalies = [Anomaly('train', 'trip_start_hour', 'Out-of-range values', 'Unexpectedly large value: 99.')]
  summary = run_summary.RunSummary(run_id='r1', anomalies=anomalies, components=[
      metadata.ComponentRun('ExampleValidator', 'COMPLETE', 0.1, {}),
      metadata.ComponentRun('DataGate', 'FAILED', 0.1, {})])
  page = html_report.render(summary, DataValidationError(format_table(anomalies)), 3.0, '/x/metadata.db')
  assert 'STOPPED BY THE DATA GATE' in page
  assert '<td>train</td><td>trip_start_hour</td><td>Out-of-range values</td>' in page
  assert 'No evaluation in this run' in page and 'No model in this run' in page


def test_a_model_that_was_not_blessed_lists_the_failed_thresholds():
  summary = run_summary.RunSummary(run_id='r2', metrics={(): {'auc': 0.7, 'example_count': 10.0}}, blessed=False,
                              validation_failures=['auc on overall: value 0.7000 (threshold: at least 0.9)'])
  page = html_report.render(summary, None, 1.0, 'mysql://tfx@127.0.0.1:3306/mlmd')
  assert 'NOT BLESSED' in page and '<li>auc on overall: value 0.7000 (threshold: at least 0.9)</li>' in page
  assert 'Pushed model' not in page and 'mysql://tfx@127.0.0.1:3306/mlmd' in page


def runs_with_aucs(*aucs) -> list:
  """RunInfos named r1 (oldest) to rN, newest first, with these overall AUCs (None: the run has none)."""
  infos = [queries.RunInfo(f'r{i}', f'2026-01-0{i} 10:00:00', 'COMPLETE' if auc else 'FAILED', 1.0, 12, [], [],
                           {'auc': auc} if auc else {}, bool(auc), None) for i, auc in enumerate(aucs, 1)]
  return queries.with_auc_changes(infos[::-1])


def test_the_report_shows_the_overall_auc_of_the_last_runs_and_its_changes():
  summary = run_summary.RunSummary(run_id='r4', metrics={(): {'auc': 0.93, 'example_count': 300.0,
                                                               'mean_label': 0.3}})
  page = html_report.render(summary, None, 1.0, '/x/metadata.db', runs=runs_with_aucs(0.90, 0.91, None, 0.93))
  assert '<h2>Overall AUC of the last 4 runs</h2>' in page
  for run, auc, change in (('r4 (this run)', '0.9300', '+0.0200'), ('r3', 'n/a', ''), ('r2', '0.9100', '+0.0100'),
                           ('r1', '0.9000', '')):
    assert re.search(f'<td>{re.escape(run)}</td><td>[^<]*</td><td>[A-Z]+</td><td class="num">{auc}</td>'
                     f'<td class="num">{re.escape(change)}</td>', page), run
  assert 'alt="overall auc of the last runs"' in page
  single = html_report.render(summary, None, 1.0, '/x/metadata.db', runs=runs_with_aucs(0.93))
  assert 'Overall AUC of the last 1 runs' in single and 'alt="overall auc of the last runs"' not in single


def test_the_curves_come_from_the_plots_and_their_absence_is_said():
  summary = run_summary.RunSummary(run_id='r1', metrics={(): {'auc': 0.75, 'example_count': 10.0,
                                                               'mean_label': 0.4, 'precision': 0.5}})
  assert 'No curves: the Evaluator wrote no confusion-matrix and calibration plots' in html_report.render(
      summary, None, 1.0, '/x/metadata.db')
  thresholds = np.array([-1e-6] + [i / 10 for i in range(11)])
  matrices = curves.ConfusionMatrices(thresholds, *np.array([[4.0] * 6 + [3, 2, 1, 1, 0, 0],
                                                             [6.0] * 5 + [4, 2, 1, 1, 0, 0, 0],
                                                             [0.0] * 5 + [2, 4, 5, 5, 6, 6, 6],
                                                             [0.0] * 6 + [1, 2, 3, 3, 4, 4]]))
  lower = np.array([-math.inf] + [i / 10 for i in range(11)])
  upper = np.append(lower[1:], math.inf)
  examples = np.array([0, 0, 0, 0, 0, 2, 3, 2, 1, 1, 1, 0], dtype=float)
  buckets = curves.ScoreBuckets(lower, upper, examples, np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0.0]),
                                examples * (lower.clip(0) + 0.05))
  page = html_report.render(summary, None, 1.0, '/x/metadata.db',
                            plots={(): curves.SlicePlots(matrices, buckets)})
  assert 'No curves' not in page and 'confusion matrices at 12 thresholds' in page
  assert page.count('<img') == 1 + 4  # the overall metrics, then the curves
  assert ('<tr><td>0.5</td><td class="num">3</td><td class="num">2</td><td class="num">4</td><td class="num">1</td>'
          '<td class="num">0.6000</td><td class="num">0.7500</td><td class="num">0.3333</td></tr>') in page


def trained_summary(record: dict, origin: str = '') -> run_summary.RunSummary:
  """A run whose Trainer made a model, with the run summary's record of its hyperparameters."""
  model = metadata.Artifact(id=7, type='Model', uri='/m/7')
  return run_summary.RunSummary(run_id='r5', hparams=record, hparams_origin=origin, components=[
      metadata.ComponentRun('Trainer', 'COMPLETE', 2.0, {'model': [model]})])


def test_the_report_shows_the_hyperparameters_and_where_they_came_from():
  tuned = {'hparams': {'hidden_units': [64, 32], 'learning_rate': 0.003, 'batch_size': 256}, 'source': 'tuned',
           'tuned_values': {'learning_rate': 0.003, 'width': 64, 'depth': 2}, 'overrides': {'batch_size': 256}}
  page = html_report.render(trained_summary(tuned, 'Tuner execution 12 of run r4 (artifact 14)'), None, 1.0, '/x')
  assert ('<h2>Hyperparameters</h2><p>Source: tuned by Tuner execution 12 of run r4 (artifact 14); overridden: '
          'batch_size</p>') in page
  assert "The Tuner's values: <code>learning_rate=0.003  width=64  depth=2</code>" in page
  assert ('<tr><td>hidden_units</td><td>[64, 32]</td></tr><tr><td>learning_rate</td><td>0.003</td></tr>'
          '<tr><td>batch_size</td><td>256</td></tr>') in page
  defaults = {**tuned, 'source': 'defaults', 'tuned_values': {}, 'overrides': {}}
  page = html_report.render(trained_summary(defaults), None, 1.0, '/x')
  assert '<p>Source: the defaults declared in models/</p>' in page and 'The Tuner' not in page
  assert 'No record of them beside the model' in html_report.render(trained_summary({}), None, 1.0, '/x')
  assert '<h2>Hyperparameters' not in html_report.render(run_summary.RunSummary(run_id='r6'), None, 1.0, '/x')
