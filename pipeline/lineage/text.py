"""The lineage answers as text, and as plain JSON."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from pipeline.evaluation import metric_names
from pipeline.lineage.diff import RunDiff
from pipeline.lineage.queries import (ArtifactRef, Consumers, ExecutionRef, ModelHyperparameters, ModelLineage,
                                     RunInfo, auc_trend)
from pipeline.reporting import run_summary

ARTIFACT_COLUMNS = ('artifact', 'id', 'created', 'made by', 'uri', 'properties')  # of artifact_rows

def text_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
  """Rows under a header in aligned columns."""
  cells = [[str(x) for x in header]] + [['' if x is None else str(x) for x in row] for row in rows]
  widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
  return '\n'.join('  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def made_by_text(ref: Optional[ExecutionRef]) -> str:
  """'Trainer #8 complete, run 2026-...' or 'nothing recorded'."""
  return f'{ref.node_id} #{ref.id} {ref.state.lower()}, run {ref.run_id}' if ref else '(not recorded)'


def artifact_rows(artifacts: List[ArtifactRef]) -> List[List[str]]:
  """Table rows of artifacts: type, id, created, who made it, uri and notable properties."""
  return [[a.type, a.id, a.created, made_by_text(a.made_by), a.uri,
           ' '.join(f'{k}={v}' for k, v in a.properties.items() if k != 'split_names')] for a in artifacts]


def format_model_hyperparameters(found: Optional[ModelHyperparameters]) -> str:
  """One line: the model's hyperparameters and their source, as the run summary prints them."""
  if found is None or not found.values:
    return 'Hyperparameters: no record beside the model' + (
        f' (the Trainer took {found.origin})' if found and found.origin else '')
  record = {'hparams': found.values, 'source': found.source, 'overrides': found.overrides}
  return run_summary.format_hparams(record, found.origin)


def format_model_lineage(lineage: ModelLineage) -> str:
  """The model command's text."""
  lines = [f'Model {lineage.model.id}  {lineage.model.uri}',
           f'made by {made_by_text(lineage.model.made_by)} at {lineage.model.created}',
           format_model_hyperparameters(lineage.hyperparameters), '']
  for data in lineage.inputs:
    lines.append(f'Input files (Examples {data.examples_id}): {data.input_base}/{data.pattern}  [{data.fingerprint}]')
    lines += [f'  {path}' for path in data.files] or ['  (not readable from here)']
  lines += ['', text_table(ARTIFACT_COLUMNS, artifact_rows(lineage.chain))]
  return '\n'.join(lines)


def format_consumers(found: Consumers) -> str:
  """The consumers command's text."""
  a = found.artifact
  lines = [f'{a.type} {a.id}  {a.uri}', f'made by {made_by_text(a.made_by)}', '',
           f'Used by {len(found.used_by)} executions: ' +
           ', '.join(f'{e.node_id} #{e.id} ({e.state.lower()})' for e in found.used_by), '']
  if found.models:
    lines.append('Models derived from it: ' + ', '.join(f'Model {m.id} ({m.uri})' for m in found.models))
    lines.append('')
  lines.append(text_table(('derived', 'id', 'created', 'made by', 'uri', 'properties'), artifact_rows(found.derived))
               if found.derived else 'Nothing has been derived from it.')
  return '\n'.join(lines)


def format_change(value: Optional[float]) -> str:
  """A signed change with 4 decimals, '' when there is none."""
  return '' if value is None else f'{value:+.4f}'


def format_trend(trend: Sequence[Tuple[str, Optional[float]]]) -> str:
  """The overall AUC of runs, oldest first, in one line ('-' for a run without one)."""
  return 'Overall AUC, oldest to newest: ' + ' -> '.join(format_metric(auc) for _, auc in trend)


def format_runs(runs: List[RunInfo]) -> str:
  """The runs command's text: a line per run with its overall AUC and the change from the run before, then the
  AUC's course over the runs listed."""
  rows = []
  for r in runs:
    status = f'{r.status} ({", ".join(r.failed)})' if r.failed else r.status
    blessing = '' if r.blessed is None else 'blessed' if r.blessed else 'not blessed'
    metrics = '  '.join(f'{k}={v:.4f}' for k, v in r.metrics.items()
                        if k in metric_names.BRIEF and k != metric_names.AUC)
    rows.append([r.run_id, status, f'{r.seconds:.1f}', f'{len(r.cached)}/{r.components}', format_metric(r.auc),
                 format_change(r.auc_change), metrics, blessing, r.pushed_path or ''])
  if not runs:
    return 'No runs recorded.'
  table = text_table(('run', 'status', 'seconds', 'cached', 'auc', 'change', 'other metrics (overall)', 'blessing',
                      'pushed'), rows)
  return f'{table}\n\n{format_trend(auc_trend(runs))}' if len(runs) > 1 else table


def format_metric(value: Optional[float]) -> str:
  """A metric value with 4 decimals, '-' when absent."""
  return '-' if value is None else f'{value:.4f}'


def format_diff(diff: RunDiff, slice_lines: int = 15) -> str:
  """The diff command's text; per-slice metric changes are listed largest first, up to slice_lines."""
  lines = [f'A: {diff.run_a}', f'B: {diff.run_b}']
  for title, found in (('Inputs', diff.inputs), ('Parameters', diff.parameters), ('Schema', diff.schema),
                       ('New artifacts (components that ran again, resolvers that found another)',
                        diff.outputs)):
    lines += ['', f'{title}:'] + ([f'  {c.what}: {c.a} -> {c.b}' for c in found] or ['  no change'])
  overall = [m for m in diff.metrics if m.slice == 'overall']
  sliced = sorted((m for m in diff.metrics if m.slice != 'overall'), key=lambda m: -abs(m.delta or 0))
  lines += ['', 'Metrics, overall:'] + (
      [f'  {m.metric:<16} {format_metric(m.a)} -> {format_metric(m.b)}  ({format_metric(m.delta)})'
       for m in overall] or ['  no change'])
  lines += ['', f'Metrics per slice: {len(sliced)} changes' + (', largest:' if sliced else '')]
  lines += [f'  {m.slice:<40} {m.metric:<16} {format_metric(m.a)} -> {format_metric(m.b)}' for m in
            sliced[:slice_lines]]
  if diff.blessing:
    lines += ['', f'Blessing: {diff.blessing.a} -> {diff.blessing.b}']
  return '\n'.join(lines)


def jsonable(value: Any) -> Any:
  """Dataclasses, tuples and NaN made plain JSON (NaN becomes null)."""
  if dataclasses.is_dataclass(value):
    return jsonable(dataclasses.asdict(value))
  if isinstance(value, dict):
    return {str(k): jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [jsonable(v) for v in value]
  if isinstance(value, float) and math.isnan(value):
    return None
  return value
