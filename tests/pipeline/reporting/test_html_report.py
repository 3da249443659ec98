"""pipeline/reporting/html_report.py: the report every local run writes, opened in headless Chromium, and its files."""
import re
import shutil
import subprocess

import pytest
from PIL import Image

import system_packages
from conftest import pushed_model_dir
from pipeline import config as config_lib
from pipeline import metadata
from pipeline.gates.base import Anomaly, format_table
from pipeline.gates.data import DataValidationError
from pipeline.reporting import html_report, run_summary

CHROMIUM = 'chromium'
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--hide-scrollbars')
# Appended to a copy of the report: writes each image's decoded width into the DOM for --dump-dom to show.
IMAGE_PROBE = ('<script>window.addEventListener("load", () => { document.body.setAttribute("data-image-widths", '
               'Array.from(document.images).map(i => i.naturalWidth).join(",")); });</script>')


@pytest.fixture(scope='module')
def chromium() -> str:
  reason = system_packages.ensure(CHROMIUM, CHROMIUM)
  if reason:
    pytest.skip(reason)
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
  assert len(widths) == 2 + len(columns) and all(int(w) > 100 for w in widths), widths  # DAG, overall, slices
  overall = first_run.metrics[()]
  for name in ('auc', 'binary_accuracy', 'precision', 'recall'):
    assert f'<td class="num">{overall[name]:.4f}</td>' in dom, name
  for column in columns:
    assert f'<h3>By {column} (' in dom
  slice_key, values = next((k, v) for k, v in first_run.metrics.items() if k and k[0][0] == 'payment_type')
  assert f'<td>{slice_key[0][1]}</td><td class="num">{int(values["example_count"])}</td>' in dom
  assert 'BLESSED: every threshold' in dom and str(pushed_model_dir(output_root)) in dom
  assert 'Data anomalies</h2><p class="ok">None.' in dom
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
