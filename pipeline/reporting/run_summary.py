"""What a run did, read back from ML Metadata and the run's artifacts, as a summary for people.

TFDV, TFMA and TFX's file access load where artifacts are read, not with the module: a replayed run
(pipeline/local/replay.py) formats its summary and report without loading TensorFlow."""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Dict, List, Optional, Tuple

from models.contract import HPARAMS_FILE, WARM_START_FILE
from pipeline import inference, metadata
from pipeline.config import PipelineConfig
from pipeline.evaluation import metric_names
from pipeline.gates.base import Anomaly, DataValidationError, GateError, format_table
from pipeline.ingest.input_check import Problem, schema_violations

MIN_SLICE_EXAMPLES = 50
TABLE_HEADING = f'{"component":<31} {"status":<10} {"seconds":>7}'


@dataclasses.dataclass
class RunSummary:
  """The facts a person wants after a run."""
  run_id: str = ''
  components: List[metadata.ComponentRun] = dataclasses.field(default_factory=list)
  anomalies: List[Anomaly] = dataclasses.field(default_factory=list)
  offending_rows: List[Problem] = dataclasses.field(default_factory=list)
  metrics: Dict[Tuple[Tuple[str, str], ...], Dict[str, float]] = dataclasses.field(default_factory=dict)
  validation_failures: List[str] = dataclasses.field(default_factory=list)
  blessed: Optional[bool] = None
  pushed_path: Optional[str] = None
  training_spans: List[int] = dataclasses.field(default_factory=list)
  warm_start: Dict[str, object] = dataclasses.field(default_factory=dict)  # models/trainer.py's record.
  hparams: Dict[str, object] = dataclasses.field(default_factory=dict)  # models/trainer.py's record of them.
  hparams_origin: str = ''  # where tuned ones came from: the Tuner execution and its run.
  predictions_path: str = ''  # batch inference: the predictions CSV (the Parquet file beside it).
  prediction_rows: Optional[int] = None  # None: no batch inference in the run.
  scored_by: str = ''  # which model scored them, in words.

  def component(self, node_id: str) -> Optional[metadata.ComponentRun]:
    return next((c for c in self.components if c.node_id == node_id), None)


def read_metrics(evaluation_uri: str) -> Dict[Tuple[Tuple[str, str], ...], Dict[str, float]]:
  """Candidate-model metrics per slice key (() is overall) from an Evaluator output."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  metrics = {}
  for per_slice in tfma.load_metrics(evaluation_uri):
    key = tuple((str(col), str(val)) for col, val in tfma.slicer.deserialize_slice_key(per_slice.slice_key))
    values = {}
    for kv in per_slice.metric_keys_and_values:
      if kv.key.is_diff or kv.key.model_name == 'baseline':
        continue
      if kv.value.HasField('double_value'):
        values[kv.key.name] = kv.value.double_value.value
    metrics[key] = values
  return metrics


def read_validation_failures(evaluation_uri: str) -> List[str]:
  """One line per failed threshold from an Evaluator output."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  result = tfma.load_validation_result(evaluation_uri)
  lines = []
  for per_slice in result.metric_validations_per_slice:
    where = slice_name(tuple((str(c), str(v)) for c, v in tfma.slicer.deserialize_slice_key(per_slice.slice_key)))
    for failure in per_slice.failures:
      detail = failure.message or f'value {failure.metric_value.double_value.value:.4f}'
      lines.append(f'{failure.metric_key.name} on {where}: {detail} (threshold: {threshold_text(failure)})')
  if result.missing_thresholds:
    lines.append('thresholds could not be evaluated (missing metrics or slices)')
  return lines


def threshold_text(failure) -> str:
  """The threshold a validation failure broke, in one line."""
  threshold = failure.metric_threshold
  parts = []
  if threshold.HasField('value_threshold'):
    parts.append(f'at least {threshold.value_threshold.lower_bound.value:g}')
  if threshold.HasField('change_threshold'):
    parts.append('no lower than the baseline model')
  return ', '.join(parts) or str(threshold).replace('\n', ' ')


def read_warm_start(model_uri: str) -> Dict[str, object]:
  """The Trainer's record of a warm start beside the model (empty when it started from scratch)."""
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  path = os.path.join(model_uri, WARM_START_FILE)
  return json.loads(fileio.open(path).read()) if fileio.exists(path) else {}


def read_hparams(model_uri: str) -> Dict[str, object]:
  """The Trainer's record of the hyperparameters it trained with (empty for a model trained before the record)."""
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  path = os.path.join(model_uri, HPARAMS_FILE)
  return json.loads(fileio.open(path).read()) if fileio.exists(path) else {}


def hparams_origin(store: metadata.Store, trainer: metadata.ComponentRun) -> str:
  """Which tuning the Trainer's hyperparameters input came from ('' without one)."""
  tuned = trainer.inputs.get('hyperparameters', [])
  return tuning_origin(store, tuned[0].id) if tuned else ''


def tuning_origin(store: metadata.Store, artifact_id: int) -> str:
  """The Tuner execution and run that made a HyperParameters artifact, in words."""
  execution, _ = metadata.producer(store, artifact_id)
  if execution is None:
    return f'HyperParameters artifact {artifact_id}'
  node, runs = metadata.placement(store, execution.id)
  return f'{node} execution {execution.id} of run {runs[0] if runs else "?"} (artifact {artifact_id})'


def summarize_latest_run(store: metadata.Store, config: PipelineConfig) -> RunSummary:
  """Everything the summary shows about the newest run of the configured pipeline."""
  run = metadata.latest_run_context(store, config.pipeline_name)
  if run is None:
    return RunSummary()
  summary = summarize_run(store, run)
  if summary.anomalies and os.path.isdir(config.data_root):
    import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
    schema = tfdv.load_schema_text(config.schema_file)
    summary.offending_rows = schema_violations(config.data_root, schema, {a.feature for a in summary.anomalies})
  return summary


def summarize_run(store: metadata.Store, run: metadata.Context) -> RunSummary:
  """Components, anomalies, metrics, blessing and push of one pipeline_run context, from MLMD and artifacts.

  Anomalies and metrics come from the artifacts' files, so they are left empty where those cannot be read from
  here (a shared metadata store also holds runs whose files are on other machines).
  """
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  from pipeline.gates.data import read_anomalies  # pylint: disable=g-import-not-at-top
  summary = RunSummary(run_id=run.name, components=metadata.component_runs(store, run.id))
  validator = summary.component('ExampleValidator')
  if validator and validator.outputs.get('anomalies') and fileio.exists(validator.outputs['anomalies'][0].uri):
    anomalies = validator.outputs['anomalies'][0]
    summary.anomalies = read_anomalies(
        anomalies.uri, artifact_utils.decode_split_names(anomalies.properties['split_names'].string_value))
  transform = summary.component('Transform')
  if transform:
    summary.training_spans = sorted(metadata.int_property(a, 'span') or 0 for a in transform.inputs.get('examples', []))
  trainer = summary.component('Trainer')
  if trainer and trainer.outputs.get('model'):
    summary.warm_start = read_warm_start(trainer.outputs['model'][0].uri)
    summary.hparams = read_hparams(trainer.outputs['model'][0].uri)
    summary.hparams_origin = hparams_origin(store, trainer)
  evaluator = summary.component('Evaluator')
  if evaluator and evaluator.outputs.get('evaluation') and fileio.exists(evaluator.outputs['evaluation'][0].uri):
    uri = evaluator.outputs['evaluation'][0].uri
    summary.metrics = read_metrics(uri)
    summary.validation_failures = read_validation_failures(uri)
  if evaluator and evaluator.outputs.get('blessing'):
    summary.blessed = bool(metadata.int_property(evaluator.outputs['blessing'][0], 'blessed'))
  read_predictions(summary)
  pusher = summary.component('Pusher')
  if pusher and pusher.outputs.get('pushed_model'):
    pushed = pusher.outputs['pushed_model'][0]
    if metadata.int_property(pushed, 'pushed'):
      summary.pushed_path = pushed.custom_properties['pushed_destination'].string_value
  return summary


def read_predictions(summary: RunSummary) -> None:
  """The predictions file, its rows and the model that scored them, from the PredictionsWriter's records."""
  writer = summary.component('PredictionsWriter')
  if not writer or not writer.outputs.get('predictions'):
    return
  predictions = writer.outputs['predictions'][0]
  summary.prediction_rows = metadata.int_property(predictions, 'rows') or 0
  summary.predictions_path = predictions.custom_properties['csv'].string_value if 'csv' in (
      predictions.custom_properties) else ''
  model = writer.inputs.get('model', [None])[0]
  trainer = summary.component('Trainer')
  trained = trainer.outputs.get('model', [None])[0] if trainer else None
  if model is not None and trained is not None and model.id == trained.id:
    summary.scored_by = inference.SCORED_BY_THIS_RUN
  elif model is not None:
    summary.scored_by = f'the currently pushed model {model.uri} (this run\'s model was not blessed)'


def format_predictions(summary: RunSummary) -> str:
  """One line: where the predictions are, how many rows, which model scored them."""
  return inference.predictions_line(summary.predictions_path, summary.prediction_rows or 0, summary.scored_by)


def slice_name(key: Tuple[Tuple[str, str], ...]) -> str:
  """'overall' or 'column=value'."""
  return ', '.join(f'{c}={v}' for c, v in key) or 'overall'


def worst_slices(metrics: Dict[Tuple[Tuple[str, str], ...], Dict[str, float]],
                 metric: str = metric_names.AUC) -> Dict[str, Tuple[str, float, int]]:
  """Per slice column, the slice with the lowest metric among those with enough examples of both classes."""
  worst: Dict[str, Tuple[str, float, int]] = {}
  for key, values in metrics.items():
    count = int(values.get(metric_names.EXAMPLE_COUNT, 0))
    value = values.get(metric, math.nan)
    one_class = values.get(metric_names.MEAN_LABEL, 0.5) in (0.0, 1.0)
    if len(key) != 1 or count < MIN_SLICE_EXAMPLES or math.isnan(value) or one_class:
      continue
    column = key[0][0]
    if column not in worst or value < worst[column][1]:
      worst[column] = (slice_name(key), value, count)
  return worst


def format_metrics(values: Dict[str, float]) -> str:
  """The headline metrics in a fixed order."""
  shown = []
  for name in metric_names.HEADLINE:
    if name in values:
      count = name == metric_names.EXAMPLE_COUNT
      shown.append(f'{name}={int(values[name])}' if count else f'{name}={values[name]:.4f}')
  return '  '.join(shown)


def format_row(node_id: str, state: str, seconds: Optional[float] = None) -> str:
  """A row of the component table: a node, its state and its seconds (none while it runs)."""
  row = f'{node_id:<31} {state.lower():<10}'
  return row.rstrip() if seconds is None else f'{row} {seconds:7.1f}'


def format_header(run_id: str) -> str:
  """The run and the heading of its component table."""
  return f'Run {run_id or "(none recorded)"}\n\n{TABLE_HEADING}'


def hparams_source(record: Dict[str, object], origin: str) -> str:
  """Where the Trainer's record says its hyperparameters came from: the tuning (origin) or the declared defaults,
  and the keys its custom_config overrode."""
  source = f'tuned by {origin or "a Tuner"}' if record.get('source') == 'tuned' else 'the defaults declared in models/'
  return source + (f'; overridden: {", ".join(record["overrides"])}' if record.get('overrides') else '')


def hparam_text(value: object) -> str:
  """A hyperparameter's value for people: a list as [a, b] without quotes, anything else as str() gives it."""
  return f'[{", ".join(str(v) for v in value)}]' if isinstance(value, (list, tuple)) else str(value)


def format_hparams(record: Dict[str, object], origin: str) -> str:
  """One line: the hyperparameters the model trained with and where they came from."""
  values = '  '.join(f'{k}={hparam_text(v)}' for k, v in record['hparams'].items())
  return f'Hyperparameters ({hparams_source(record, origin)}): {values}'


def format_summary(summary: RunSummary, failure: Optional[BaseException], wall_seconds: float, log_path: str = '',
                   components: bool = True) -> str:
  """The text printed at the end of a run; without the components when their rows were printed as they ran, with
  the log file of the libraries' output when there is one."""
  rows = [format_row(c.node_id, c.state, c.seconds) for c in summary.components]
  lines = [format_header(summary.run_id)] + rows if components else []
  lines += [f'{"whole run (wall clock)":<42} {wall_seconds:7.1f}', '']
  if summary.anomalies:
    lines += [f'Data anomalies ({len(summary.anomalies)}):', format_table(summary.anomalies), '']
    if summary.offending_rows:
      lines += ['Offending rows:'] + [f'  {p}' for p in summary.offending_rows] + ['']
  elif summary.component('ExampleValidator') and not isinstance(failure, DataValidationError):
    lines += ['Data anomalies: none', '']  # else the data gate's own table (the label's classes) follows.
  spans_shown = bool(summary.training_spans) and summary.training_spans != [0]
  if spans_shown:
    lines.append(f'Trained on span(s): {", ".join(map(str, summary.training_spans))}')
  if summary.warm_start:
    copied, fresh = summary.warm_start['copied'], summary.warm_start['fresh']
    lines.append(f'Warm start: {len(copied)} of {len(copied) + len(fresh)} weights from '
                 f'{summary.warm_start["base_model"]}' + (f' (fresh: {", ".join(fresh)})' if fresh else ''))
  if summary.hparams:
    lines.append(format_hparams(summary.hparams, summary.hparams_origin))
  if spans_shown or summary.warm_start or summary.hparams:
    lines.append('')
  if summary.metrics:
    lines.append(f'Evaluation (eval split): {format_metrics(summary.metrics.get((), {}))}')
    for column, (name, value, count) in sorted(worst_slices(summary.metrics).items()):
      lines.append(f'  worst {column:<18} {name}: auc={value:.4f} over {count} examples')
    lines.append('')
  if summary.blessed is not None:
    if summary.blessed:
      lines.append('Blessing: BLESSED (every threshold in pipeline/evaluation/config.py met)')
    else:
      lines.append('Blessing: NOT BLESSED, so nothing was pushed. Failed thresholds:')
      lines += [f'  - {line}' for line in summary.validation_failures or ['(see the Evaluator output)']]
  if summary.pushed_path:
    lines.append(f'Pushed model: {summary.pushed_path}')
  if summary.prediction_rows is not None:
    lines.append(format_predictions(summary))
  if failure is not None:
    lines.append('')
    if isinstance(failure, GateError):
      lines.append(f'STOPPED BY THE {failure.gate_name.upper()}: {failure}')
    else:
      lines.append(f'RUN FAILED: {type(failure).__name__}: {failure}')
  if log_path:
    traceback_inside = failure is not None and not isinstance(failure, GateError)
    lines.append(f'Log: {log_path}' + (' (with the traceback of the failure)' if traceback_inside else ''))
  return '\n'.join(lines)
