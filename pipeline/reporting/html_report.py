"""The run report: <output-root>/report.html, one self-contained page (inline style and images, no script, no CDN).

Each run also keeps its own copy, report-<run id>.html, beside it.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import io
import math
import os
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from pipeline import config as config_lib
from pipeline import metadata
from pipeline.evaluation import metric_names
from pipeline.gates.base import DataValidationError, GateError
from pipeline.lineage import picture, queries, text
from pipeline.reporting import analysis, curves, run_summary

REPORT_FILE = 'report.html'
RECENT_RUNS = 10  # the runs whose overall AUC the report shows
STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f2f2f2; overflow-wrap: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; overflow-wrap: normal; }
.ok { color: #1e7b34; font-weight: bold; } .bad { color: #b3261e; font-weight: bold; }
.muted { color: #666; font-size: .85em; } code { font-size: .9em; word-break: break-all; }
img { max-width: 100%; display: block; margin: .5em 0; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0 1em; }
details { margin: .3em 0 1em; }
"""


def esc(value: object) -> str:
  """Text made safe for HTML."""
  return html.escape('' if value is None else str(value))


def number(value: object, decimals: int = analysis.DECIMALS) -> str:
  """A number for a table cell, as the notebooks show it too: integers as they are, floats rounded, NaN as n/a."""
  return analysis.format_number(value, decimals)


def header_text(name: object) -> str:
  """A column name made safe for HTML, with a place to break after each underscore (example_count)."""
  return esc(name).replace('_', '_<wbr>')


def table(header: Optional[Sequence[str]], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
  """An HTML table (without a header row for None); the columns at the numeric positions are numbers. A header
  may break after an underscore."""
  head = f'<thead><tr>{"".join(f"<th>{header_text(h)}</th>" for h in header)}</tr></thead>' if header else ''
  body = []
  for row in rows:
    cells = [f'<td class="num">{esc(number(c))}</td>' if i in numeric else f'<td>{esc(c)}</td>'
             for i, c in enumerate(row)]
    body.append(f'<tr>{"".join(cells)}</tr>')
  return f'<table>{head}<tbody>{"".join(body)}</tbody></table>'


def image(png: bytes, alt: str) -> str:
  """A PNG embedded in the page."""
  return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def run_status(summary: run_summary.RunSummary, failure: Optional[BaseException]) -> str:
  """COMPLETE, STOPPED BY THE DATA GATE (or DRIFT GATE), FAILED or RUNNING."""
  if isinstance(failure, GateError):
    return f'STOPPED BY THE {failure.gate_name.upper()}'
  return 'FAILED' if failure is not None else queries.run_status(c.state for c in summary.components)


def components_section(summary: run_summary.RunSummary) -> str:
  """Each component's state, time and outputs."""
  rows = [[c.node_id, c.state.lower(), f'{c.seconds:.1f}', ', '.join(
      [f'{key}: {a.type} {a.id}' for key, artifacts in c.outputs.items() for a in artifacts] +
      [f'{key} (resolved): {a.type} {a.id}' for key, artifacts in c.resolved.items() for a in artifacts])]
          for c in summary.components]
  return '<h2>Components</h2>' + table(('component', 'status', 'seconds', 'outputs'), rows, numeric=(2,))


def anomalies_section(summary: run_summary.RunSummary, failure: Optional[BaseException] = None) -> str:
  """The data anomalies ExampleValidator found, and the offending rows; nothing when the data gate's own message
  (shown with the status) holds what it found beyond them (the label's classes)."""
  if not summary.anomalies and isinstance(failure, DataValidationError):
    return ''
  if not summary.anomalies:
    validated = summary.component('ExampleValidator') is not None
    return '<h2>Data anomalies</h2>' + ('<p class="ok">None.</p>' if validated else
                                         '<p class="muted">Data validation did not run.</p>')
  rows = [[a.split, a.feature, a.anomaly, a.description] for a in summary.anomalies]
  offending = ''.join(f'<li><code>{esc(p)}</code></li>' for p in summary.offending_rows)
  return (f'<h2>Data anomalies ({len(summary.anomalies)})</h2>' +
          table(('split', 'feature', 'anomaly', 'description'), rows) +
          (f'<h3>Offending rows</h3><ul>{offending}</ul>' if offending else ''))


def hyperparameters_section(summary: run_summary.RunSummary) -> str:
  """The hyperparameters the Trainer used and where they came from (the run summary's record and origin);
  nothing for a run without a model."""
  trainer = summary.component('Trainer')
  if trainer is None or not trainer.outputs.get('model'):
    return ''
  record = summary.hparams
  if not record:
    return '<h2>Hyperparameters</h2><p class="muted">No record of them beside the model.</p>'
  tuned = '  '.join(f'{k}={v}' for k, v in (record.get('tuned_values') or {}).items())
  return ''.join([
      '<h2>Hyperparameters</h2>',
      f'<p>Source: {esc(run_summary.hparams_source(record, summary.hparams_origin))}</p>',
      f'<p class="muted">The Tuner\'s values: <code>{esc(tuned)}</code></p>' if tuned else '',
      table(('hyperparameter', 'value'), [(k, run_summary.hparam_text(v)) for k, v in record['hparams'].items()])])


def metrics_rows(frame) -> List[List[object]]:
  """Table rows of a metrics DataFrame, slice value first."""
  return [[index, *values] for index, values in zip(frame.index, frame.itertuples(index=False))]


def frame_table(frame) -> str:
  """A DataFrame as a table: its index first, every column a number."""
  return table([frame.index.name, *frame.columns], metrics_rows(frame), tuple(range(1, len(frame.columns) + 1)))


def curves_section(plots: Optional[curves.SlicePlots], auc: float) -> str:
  """ROC, precision-recall, calibration and score distribution of the overall slice, and the confusion matrix at a
  few thresholds."""
  if plots is None or plots.matrices is None or plots.buckets is None:
    return ('<h3>Curves</h3><p class="muted">No curves: the Evaluator wrote no confusion-matrix and calibration '
            'plots (pipeline/evaluation/classifier_metrics.py).</p>')
  charts = analysis.curve_charts(plots, auc)
  thresholds = len(plots.matrices.thresholds)
  return ''.join([
      '<h3>Curves (overall)</h3>',
      f'<p class="muted">From the Evaluator\'s confusion matrices at {thresholds} thresholds and its calibration '
      'histogram. Calibration: the share of positives against the mean score in ten score bins (with their '
      'examples); a calibrated model follows the diagonal.</p>',
      '<div class="charts">', *(image(analysis.figure_png(figure), alt) for figure, alt in charts), '</div>',
      '<details><summary>Confusion matrix at thresholds</summary>',
      frame_table(analysis.operating_points(plots)), '</details>'])


def metrics_section(summary: run_summary.RunSummary,
                    plots: Optional[Dict[curves.SliceKey, curves.SlicePlots]] = None) -> str:
  """Overall and per-slice metrics, as tables and charts, with the overall curves.

  Each AUC comes with its 95% interval (auc_low to auc_high), from the slice's positives and negatives.
  """
  if not summary.metrics:
    return '<h2>Evaluation</h2><p class="muted">No evaluation in this run.</p>'
  overall = analysis.metrics_table(summary.metrics)
  parts = ['<h2>Evaluation (eval split)</h2>', '<h3>Overall</h3>', frame_table(overall),
           '<p class="muted">auc_low to auc_high: the 95% interval of the AUC (Hanley-McNeil) from the positives '
           'and negatives of the slice. A slice of a few examples has a wide one; one with a single class has '
           'none (n/a).</p>',
           image(analysis.figure_png(analysis.overall_chart(summary.metrics)), 'overall metrics'),
           curves_section((plots or {}).get(()), summary.metrics.get((), {}).get(metric_names.AUC, math.nan))]
  for column in analysis.slice_columns(summary.metrics):
    frame = analysis.metrics_table(summary.metrics, column)
    parts += [f'<h3>By {esc(column)} ({len(frame)} slices)</h3>',
              image(analysis.figure_png(analysis.slice_chart(summary.metrics, column)), f'auc by {column}'),
              f'<details open><summary>{len(frame)} slices, largest first</summary>', frame_table(frame),
              '</details>']
  return ''.join(parts)


def runs_section(runs: Sequence[queries.RunInfo], current: str) -> str:
  """The overall AUC of the last runs, newest first, with its change from run to run, and its course."""
  if not runs:
    return ''
  rows = [[f'{r.run_id} (this run)' if r.run_id == current else r.run_id, r.started, r.status,
           math.nan if r.auc is None else r.auc, text.format_change(r.auc_change),
           '' if r.blessed is None else 'blessed' if r.blessed else 'not blessed'] for r in runs]
  parts = [f'<h2>Overall AUC of the last {len(runs)} runs</h2>',
           table(('run', 'started', 'status', 'auc', 'change', 'blessing'), rows, numeric=(3, 4))]
  trend = queries.auc_trend(list(runs))
  if sum(auc is not None for _, auc in trend) > 1:
    chart = analysis.auc_trend_chart([run for run, _ in trend], [math.nan if a is None else a for _, a in trend])
    parts.append(image(analysis.figure_png(chart), 'overall auc of the last runs'))
  return ''.join(parts)


def blessing_section(summary: run_summary.RunSummary) -> str:
  """The Evaluator's decision, the failed thresholds and where the model was pushed."""
  parts = ['<h2>Blessing</h2>']
  if summary.blessed is None:
    parts.append('<p class="muted">No blessing decision in this run.</p>')
  elif summary.blessed:
    parts.append('<p class="ok">BLESSED: every threshold in pipeline/evaluation/config.py met.</p>')
  else:
    failures = ''.join(f'<li>{esc(line)}</li>' for line in summary.validation_failures or
                       ['(see the Evaluator output)'])
    parts.append(f'<p class="bad">NOT BLESSED, so nothing was pushed. Failed thresholds:</p><ul>{failures}</ul>')
  if summary.pushed_path:
    parts.append(f'<p>Pushed model: <code>{esc(summary.pushed_path)}</code></p>')
  return ''.join(parts)


def lineage_section(model: Optional[queries.ModelLineage], pushed: bool, dag_png: Optional[bytes]) -> str:
  """The chain of artifacts behind the pushed (or else the trained) model, and the run's DAG."""
  parts = ['<h2>Lineage</h2>']
  if dag_png:
    parts.append(image(dag_png, 'run DAG'))
  if model is None:
    return ''.join(parts + ['<p class="muted">No model in this run.</p>'])
  what = 'pushed model' if pushed else 'model this run trained (not pushed)'
  parts.append(f'<h3>The {what}: Model {model.model.id}</h3>')
  for data in model.inputs:
    files = ''.join(f'<li><code>{esc(f)}</code></li>' for f in data.files)
    parts.append(f'<p>Input files of Examples {data.examples_id}: <code>{esc(data.input_base)}/'
                 f'{esc(data.pattern)}</code> <span class="muted">{esc(data.fingerprint)}</span></p>'
                 f'<ul>{files}</ul>')
  parts.append(table(text.ARTIFACT_COLUMNS, text.artifact_rows(model.chain)))
  return ''.join(parts)


def render(summary: run_summary.RunSummary, failure: Optional[BaseException], wall_seconds: float, metadata: str,
           model: Optional[queries.ModelLineage] = None, dag_png: Optional[bytes] = None,
           plots: Optional[Dict[curves.SliceKey, curves.SlicePlots]] = None,
           runs: Sequence[queries.RunInfo] = (), metrics_html: str = '') -> str:
  """The whole page for one run; plots are the Evaluator's, runs the last ones of the pipeline, newest first;
  metrics_html, when given, the metrics section already drawn for the same metrics and plots."""
  status = run_status(summary, failure)
  title = f'Run {summary.run_id or "(none recorded)"}'
  facts = [('status', status), ('wall clock', f'{wall_seconds:.1f} s'), ('metadata', metadata),
           ('written', datetime.datetime.now().isoformat(sep=' ', timespec='seconds'))]
  problem = f'<p class="bad">{esc(status)}: {esc(type(failure).__name__)}</p><pre>{esc(failure)}</pre>' \
      if failure is not None else ''
  body = [f'<h1>{esc(config_lib.PIPELINE_NAME)}: {esc(title)}</h1>', table(None, facts), problem,
          components_section(summary), anomalies_section(summary, failure), hyperparameters_section(summary),
          metrics_html or metrics_section(summary, plots), blessing_section(summary),
          runs_section(runs, summary.run_id), lineage_section(model, bool(summary.pushed_path), dag_png)]
  return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
          f'<style>{STYLE}</style></head><body>{"".join(body)}</body></html>\n')


def report_file_name(run_id: str) -> str:
  """report-<run id>.html, with characters that are awkward in file names replaced."""
  return f'report-{re.sub(r"[^A-Za-z0-9._-]", "-", run_id or "unrecorded")}.html'


def write(output_root: str, run_id: str, page: str) -> Path:
  """Writes the run's own report and makes it <output_root>/report.html; returns the latter."""
  root = Path(output_root)
  root.mkdir(parents=True, exist_ok=True)
  (root / report_file_name(run_id)).write_text(page, encoding='utf-8')
  latest = root / REPORT_FILE
  partial = root / f'.{REPORT_FILE}.partial'
  partial.write_text(page, encoding='utf-8')
  os.replace(partial, latest)
  return latest


def model_to_trace(summary: run_summary.RunSummary) -> Optional[int]:
  """The artifact whose lineage the report shows: the pushed model, else the model the run trained."""
  pusher, trainer = summary.component('Pusher'), summary.component('Trainer')
  if summary.pushed_path and pusher and pusher.outputs.get('pushed_model'):
    return pusher.outputs['pushed_model'][0].id
  if trainer and trainer.outputs.get('model'):
    return trainer.outputs['model'][0].id
  return None


def evaluation_plots(summary: run_summary.RunSummary) -> Dict[curves.SliceKey, curves.SlicePlots]:
  """The plots of the run's Evaluator output, by slice; empty without one."""
  evaluator = summary.component('Evaluator')
  evaluations = evaluator.outputs.get('evaluation') if evaluator else None
  if not evaluations or not os.path.isdir(evaluations[0].uri):
    return {}
  return curves.read_plots(evaluations[0].uri)


def dag_png(summary: run_summary.RunSummary) -> Optional[bytes]:
  """The run's DAG as PNG, None for a run without components."""
  if not summary.components:
    return None
  buffer = io.BytesIO()
  picture.draw_dag(picture.run_dag(summary), buffer)
  return buffer.getvalue()


@dataclasses.dataclass
class ReportInputs:
  """What a run's page shows beside its summary, read from ML Metadata and the artifacts, and its metrics section
  once drawn (a run that reuses the same Evaluator output can reuse it)."""
  metadata: str  # the store, in words
  model: Optional[queries.ModelLineage]
  plots: Dict[curves.SliceKey, curves.SlicePlots]
  runs: List[queries.RunInfo]
  metrics_html: str = ''


def report_inputs(store: metadata.Store, config: config_lib.PipelineConfig,
                  summary: run_summary.RunSummary) -> ReportInputs:
  """The report's inputs for the run just summarized, with its metrics section drawn."""
  traced = model_to_trace(summary)
  inputs = ReportInputs(metadata.describe_metadata(config.metadata_connection_config),
                        queries.model_lineage(store, traced) if traced is not None else None,
                        evaluation_plots(summary), queries.list_runs(store, config.pipeline_name, RECENT_RUNS))
  inputs.metrics_html = metrics_section(summary, inputs.plots)
  return inputs


def write_run_report(store: metadata.Store, config: config_lib.PipelineConfig, output_root: str,
                     summary: run_summary.RunSummary, failure: Optional[BaseException],
                     wall_seconds: float) -> Tuple[str, Optional[ReportInputs]]:
  """Writes the report of the run just summarized; returns the line that says where (or why not) and the inputs it
  showed (None when they could not be read).

  A report that cannot be written does not change the run's outcome, so the error becomes the returned line.
  """
  inputs = None
  try:
    inputs = report_inputs(store, config, summary)
    return write_report(output_root, summary, failure, wall_seconds, inputs), inputs
  except Exception as e:  # pylint: disable=broad-except
    return f'Report not written: {type(e).__name__}: {e}', inputs


def write_report(output_root: str, summary: run_summary.RunSummary, failure: Optional[BaseException],
                 wall_seconds: float, inputs: ReportInputs) -> str:
  """Writes a run's report from its summary and inputs; returns the line that says where."""
  page = render(summary, failure, wall_seconds, inputs.metadata, inputs.model, dag_png(summary), inputs.plots,
                inputs.runs, inputs.metrics_html)
  return f'Report: {write(output_root, summary.run_id, page)}'
