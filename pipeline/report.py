"""What a run did, read back from ML Metadata and the run's artifacts, as a summary for people."""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Dict, List, Optional, Tuple

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from models.trainer import WARM_START_FILE
from pipeline import exit_codes
from pipeline.components import Anomaly, DataValidationError, format_table, read_anomalies
from pipeline.config import PipelineConfig
from pipeline.drift import DataDriftError
from pipeline.input_check import Problem, schema_violations

MIN_SLICE_EXAMPLES = 50
HEADLINE_METRICS = ('auc', 'binary_accuracy', 'precision', 'recall', 'calibration', 'example_count')
State = metadata_store_pb2.Execution.State


@dataclasses.dataclass(frozen=True)
class ComponentRun:
  """One node of one pipeline run."""
  node_id: str
  state: str  # COMPLETE, CACHED, FAILED, RUNNING ...
  seconds: float
  outputs: Dict[str, List[metadata_store_pb2.Artifact]]
  inputs: Dict[str, List[metadata_store_pb2.Artifact]] = dataclasses.field(default_factory=dict)
  execution_id: int = 0
  started_ms: int = 0  # MLMD times: milliseconds since the epoch.
  ended_ms: int = 0
  parameters: Dict[str, str] = dataclasses.field(default_factory=dict)
  resolved: Dict[str, List[metadata_store_pb2.Artifact]] = dataclasses.field(default_factory=dict)  # by a Resolver

  @property
  def cached(self) -> bool:
    return self.state == 'CACHED'


@dataclasses.dataclass
class RunSummary:
  """The facts a person wants after a run."""
  run_id: str = ''
  components: List[ComponentRun] = dataclasses.field(default_factory=list)
  anomalies: List[Anomaly] = dataclasses.field(default_factory=list)
  offending_rows: List[Problem] = dataclasses.field(default_factory=list)
  metrics: Dict[Tuple[Tuple[str, str], ...], Dict[str, float]] = dataclasses.field(default_factory=dict)
  validation_failures: List[str] = dataclasses.field(default_factory=list)
  blessed: Optional[bool] = None
  pushed_path: Optional[str] = None
  training_spans: List[int] = dataclasses.field(default_factory=list)
  warm_start: Dict[str, object] = dataclasses.field(default_factory=dict)  # models/trainer.py's record.

  def component(self, node_id: str) -> Optional[ComponentRun]:
    return next((c for c in self.components if c.node_id == node_id), None)


def open_store(config: PipelineConfig) -> metadata_store.MetadataStore:
  """The MLMD store a configuration writes to."""
  return metadata_store.MetadataStore(config.metadata_connection_config)


def latest_run_context(store: metadata_store.MetadataStore,
                       pipeline_name: str) -> Optional[metadata_store_pb2.Context]:
  """The newest pipeline_run context of a pipeline."""
  return next(iter(run_contexts(store, pipeline_name)), None)


def run_contexts(store: metadata_store.MetadataStore, pipeline_name: str) -> List[metadata_store_pb2.Context]:
  """The pipeline_run contexts of a pipeline, newest first."""
  pipeline = store.get_context_by_type_and_name('pipeline', pipeline_name)
  if pipeline is None:
    return []
  runs = [c for c in store.get_children_contexts_by_context(pipeline.id) if c.type == 'pipeline_run']
  return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)


Event = metadata_store_pb2.Event
OUTPUT_EVENTS = (Event.OUTPUT, Event.DECLARED_OUTPUT)
INPUT_EVENTS = (Event.INPUT, Event.DECLARED_INPUT, Event.INTERNAL_INPUT)


def component_runs(store: metadata_store.MetadataStore, run_context_id: int) -> List[ComponentRun]:
  """Each execution of a run with its node id, state, times, parameters and artifacts by key."""
  runs = []
  for execution in sorted(store.get_executions_by_context(run_context_id), key=lambda e: e.id):
    contexts = store.get_contexts_by_execution(execution.id)
    node = next((c.name for c in contexts if c.type == 'node'), '')
    events = store.get_events_by_execution_ids([execution.id])
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: Dict[str, List[metadata_store_pb2.Artifact]] = {}
    inputs: Dict[str, List[metadata_store_pb2.Artifact]] = {}
    resolved: Dict[str, List[metadata_store_pb2.Artifact]] = {}
    for event in events:
      by_key = (outputs if event.type in OUTPUT_EVENTS else inputs if event.type in INPUT_EVENTS else
                resolved if event.type == Event.INTERNAL_OUTPUT else None)
      if by_key is not None and event.artifact_id in artifacts:
        by_key.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
    seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
    parameters = execution_parameters(execution)
    cache = next((c for c in contexts if c.type == 'execution_cache'), None)
    if execution.last_known_state == State.CACHED and cache is not None:
      parameters = {**parameters, **original_parameters(store, cache.id)}
    runs.append(ComponentRun(node.split('.', 1)[-1], State.Name(execution.last_known_state), seconds, outputs,
                             inputs, execution.id, execution.create_time_since_epoch,
                             execution.last_update_time_since_epoch, parameters, resolved))
  return runs


def original_parameters(store: metadata_store.MetadataStore, cache_context_id: int) -> Dict[str, str]:
  """The parameters of the first completed execution under a cache key: the one a cached execution reuses.

  A cached execution records the parameters known before it ran, not those its driver would have resolved
  (ExampleGen's input fingerprint and span), and some in another form (a bool as 'false' rather than 0); the
  execution whose results it reuses ran with the same ones and has them all.
  """
  complete = [e for e in store.get_executions_by_context(cache_context_id) if e.last_known_state == State.COMPLETE]
  return execution_parameters(min(complete, key=lambda e: e.id)) if complete else {}


def execution_parameters(execution: metadata_store_pb2.Execution) -> Dict[str, str]:
  """An execution's parameters (MLMD custom properties) as text."""
  return {name: value_text(value) for name, value in sorted(execution.custom_properties.items())}


def value_text(value: metadata_store_pb2.Value) -> str:
  """An MLMD property value as text; structs (and protos) as compact JSON."""
  kind = value.WhichOneof('value')
  if kind in ('struct_value', 'proto_value'):
    return json.dumps(json_format.MessageToDict(getattr(value, kind)), sort_keys=True)
  return str(getattr(value, kind)) if kind else ''


def read_metrics(evaluation_uri: str) -> Dict[Tuple[Tuple[str, str], ...], Dict[str, float]]:
  """Candidate-model metrics per slice key (() is overall) from an Evaluator output."""
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


def int_property(artifact: metadata_store_pb2.Artifact, name: str) -> Optional[int]:
  """An int property or custom property of an artifact, or None."""
  for properties in (artifact.properties, artifact.custom_properties):
    if name in properties:
      return properties[name].int_value
  return None


def read_warm_start(model_uri: str) -> Dict[str, object]:
  """The Trainer's record of a warm start beside the model (empty when it started from scratch)."""
  path = os.path.join(model_uri, WARM_START_FILE)
  return json.loads(fileio.open(path).read()) if fileio.exists(path) else {}


def summarize_latest_run(config: PipelineConfig) -> RunSummary:
  """Everything the summary shows about the newest run of the configured pipeline."""
  store = open_store(config)
  run = latest_run_context(store, config.pipeline_name)
  if run is None:
    return RunSummary()
  summary = summarize_run(store, run)
  if summary.anomalies and os.path.isdir(config.data_root):
    schema = tfdv.load_schema_text(config.schema_file)
    summary.offending_rows = schema_violations(config.data_root, schema, {a.feature for a in summary.anomalies})
  return summary


def summarize_run(store: metadata_store.MetadataStore, run: metadata_store_pb2.Context) -> RunSummary:
  """Components, anomalies, metrics, blessing and push of one pipeline_run context, from MLMD and artifacts.

  Anomalies and metrics come from the artifacts' files, so they are left empty where those cannot be read from
  here (a shared metadata store also holds runs whose files are on other machines).
  """
  summary = RunSummary(run_id=run.name, components=component_runs(store, run.id))
  validator = summary.component('ExampleValidator')
  if validator and validator.outputs.get('anomalies') and fileio.exists(validator.outputs['anomalies'][0].uri):
    anomalies = validator.outputs['anomalies'][0]
    summary.anomalies = read_anomalies(
        anomalies.uri, artifact_utils.decode_split_names(anomalies.properties['split_names'].string_value))
  transform = summary.component('Transform')
  if transform:
    summary.training_spans = sorted(int_property(a, 'span') or 0 for a in transform.inputs.get('examples', []))
  trainer = summary.component('Trainer')
  if trainer and trainer.outputs.get('model'):
    summary.warm_start = read_warm_start(trainer.outputs['model'][0].uri)
  evaluator = summary.component('Evaluator')
  if evaluator and evaluator.outputs.get('evaluation') and fileio.exists(evaluator.outputs['evaluation'][0].uri):
    uri = evaluator.outputs['evaluation'][0].uri
    summary.metrics = read_metrics(uri)
    summary.validation_failures = read_validation_failures(uri)
  if evaluator and evaluator.outputs.get('blessing'):
    summary.blessed = bool(int_property(evaluator.outputs['blessing'][0], 'blessed'))
  pusher = summary.component('Pusher')
  if pusher and pusher.outputs.get('pushed_model'):
    pushed = pusher.outputs['pushed_model'][0]
    if int_property(pushed, 'pushed'):
      summary.pushed_path = pushed.custom_properties['pushed_destination'].string_value
  return summary


def slice_name(key: Tuple[Tuple[str, str], ...]) -> str:
  """'overall' or 'column=value'."""
  return ', '.join(f'{c}={v}' for c, v in key) or 'overall'


def worst_slices(metrics: Dict[Tuple[Tuple[str, str], ...], Dict[str, float]],
                 metric: str = 'auc') -> Dict[str, Tuple[str, float, int]]:
  """Per slice column, the slice with the lowest metric among those with enough examples of both classes."""
  worst: Dict[str, Tuple[str, float, int]] = {}
  for key, values in metrics.items():
    count = int(values.get('example_count', 0))
    value = values.get(metric, math.nan)
    one_class = values.get('mean_label', 0.5) in (0.0, 1.0)
    if len(key) != 1 or count < MIN_SLICE_EXAMPLES or math.isnan(value) or one_class:
      continue
    column = key[0][0]
    if column not in worst or value < worst[column][1]:
      worst[column] = (slice_name(key), value, count)
  return worst


def format_metrics(values: Dict[str, float]) -> str:
  """The headline metrics in a fixed order."""
  shown = []
  for name in HEADLINE_METRICS:
    if name in values:
      shown.append(f'{name}={int(values[name])}' if name == 'example_count' else f'{name}={values[name]:.4f}')
  return '  '.join(shown)


def format_summary(summary: RunSummary, failure: Optional[BaseException], wall_seconds: float) -> str:
  """The text printed at the end of a run."""
  lines = [f'Run {summary.run_id or "(none recorded)"}', '', 'component                       status     seconds']
  for c in summary.components:
    lines.append(f'{c.node_id:<31} {c.state.lower():<10} {c.seconds:7.1f}')
  lines += [f'{"whole run (wall clock)":<42} {wall_seconds:7.1f}', '']
  if summary.anomalies:
    lines += [f'Data anomalies ({len(summary.anomalies)}):', format_table(summary.anomalies), '']
    if summary.offending_rows:
      lines += ['Offending rows:'] + [f'  {p}' for p in summary.offending_rows] + ['']
  elif summary.component('ExampleValidator'):
    lines += ['Data anomalies: none', '']
  spans_shown = bool(summary.training_spans) and summary.training_spans != [0]
  if spans_shown:
    lines.append(f'Trained on span(s): {", ".join(map(str, summary.training_spans))}')
  if summary.warm_start:
    copied, fresh = summary.warm_start['copied'], summary.warm_start['fresh']
    lines.append(f'Warm start: {len(copied)} of {len(copied) + len(fresh)} weights from '
                 f'{summary.warm_start["base_model"]}' + (f' (fresh: {", ".join(fresh)})' if fresh else ''))
  if spans_shown or summary.warm_start:
    lines.append('')
  if summary.metrics:
    lines.append(f'Evaluation (eval split): {format_metrics(summary.metrics.get((), {}))}')
    for column, (name, value, count) in sorted(worst_slices(summary.metrics).items()):
      lines.append(f'  worst {column:<18} {name}: auc={value:.4f} over {count} examples')
    lines.append('')
  if summary.blessed is not None:
    if summary.blessed:
      lines.append('Blessing: BLESSED (every threshold in pipeline/evaluation.py met)')
    else:
      lines.append('Blessing: NOT BLESSED, so nothing was pushed. Failed thresholds:')
      lines += [f'  - {line}' for line in summary.validation_failures or ['(see the Evaluator output)']]
  if summary.pushed_path:
    lines.append(f'Pushed model: {summary.pushed_path}')
  if failure is not None:
    lines.append('')
    if isinstance(failure, DataValidationError):
      lines.append(f'STOPPED BY THE DATA GATE: {failure}')
    elif isinstance(failure, DataDriftError):
      lines.append(f'STOPPED BY THE DRIFT GATE: {failure}')
    else:
      lines.append(f'RUN FAILED: {type(failure).__name__}: {failure}')
  return '\n'.join(lines)


def exit_code(failure: Optional[BaseException]) -> int:
  """0 when the run completed (pushed or deliberately not blessed), 2 when the data stopped it, else 1."""
  if isinstance(failure, (DataValidationError, DataDriftError)):
    return exit_codes.BAD_INPUT
  return exit_codes.FAILED if failure is not None else exit_codes.OK
