"""What a run did, read back from ML Metadata and the run's artifacts, as a summary for people."""
from __future__ import annotations

import dataclasses
import glob
import math
import os
from typing import Dict, List, Optional, Tuple

import tensorflow_model_analysis as tfma
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import artifact_utils

from pipeline.components import Anomaly, DataValidationError, format_table, read_anomalies
from pipeline.config import PipelineConfig

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
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

  @property
  def cached(self) -> bool:
    return self.state == 'CACHED'


@dataclasses.dataclass
class RunSummary:
  """The facts a person wants after a run."""
  run_id: str = ''
  components: List[ComponentRun] = dataclasses.field(default_factory=list)
  anomalies: List[Anomaly] = dataclasses.field(default_factory=list)
  metrics: Dict[Tuple[Tuple[str, str], ...], Dict[str, float]] = dataclasses.field(default_factory=dict)
  validation_failures: List[str] = dataclasses.field(default_factory=list)
  blessed: Optional[bool] = None
  pushed_path: Optional[str] = None

  def component(self, node_id: str) -> Optional[ComponentRun]:
    return next((c for c in self.components if c.node_id == node_id), None)


def check_data_root(data_root: str) -> Optional[str]:
  """A message naming what is wrong with a --data-root, or None when it holds CSV files."""
  if not os.path.exists(data_root):
    return f'error: --data-root {data_root} does not exist.'
  if not os.path.isdir(data_root):
    return f'error: --data-root {data_root} is not a directory; pass the directory that holds the CSV files.'
  if not glob.glob(os.path.join(data_root, '*.csv')):
    return f'error: --data-root {data_root} holds no *.csv file.'
  return None


def open_store(config: PipelineConfig) -> metadata_store.MetadataStore:
  """The MLMD store a configuration writes to."""
  return metadata_store.MetadataStore(config.metadata_connection_config)


def latest_run_context(store: metadata_store.MetadataStore,
                       pipeline_name: str) -> Optional[metadata_store_pb2.Context]:
  """The newest pipeline_run context of a pipeline."""
  pipeline = store.get_context_by_type_and_name('pipeline', pipeline_name)
  if pipeline is None:
    return None
  runs = [c for c in store.get_children_contexts_by_context(pipeline.id) if c.type == 'pipeline_run']
  return max(runs, key=lambda c: c.create_time_since_epoch, default=None)


def component_runs(store: metadata_store.MetadataStore, run_context_id: int) -> List[ComponentRun]:
  """Each execution of a run with its node id, state, duration and output artifacts by key."""
  runs = []
  for execution in sorted(store.get_executions_by_context(run_context_id), key=lambda e: e.id):
    node = next((c.name for c in store.get_contexts_by_execution(execution.id) if c.type == 'node'), '')
    outputs: Dict[str, List[metadata_store_pb2.Artifact]] = {}
    events = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    for event in events:
      outputs.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
    seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
    runs.append(ComponentRun(node.split('.', 1)[-1], State.Name(execution.last_known_state), seconds, outputs))
  return runs


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
  """An int custom property of an artifact, or None."""
  return artifact.custom_properties[name].int_value if name in artifact.custom_properties else None


def summarize_latest_run(config: PipelineConfig) -> RunSummary:
  """Everything the summary shows about the newest run of the configured pipeline."""
  store = open_store(config)
  run = latest_run_context(store, config.pipeline_name)
  if run is None:
    return RunSummary()
  summary = RunSummary(run_id=run.name, components=component_runs(store, run.id))
  validator = summary.component('ExampleValidator')
  if validator and validator.outputs.get('anomalies'):
    anomalies = validator.outputs['anomalies'][0]
    summary.anomalies = read_anomalies(
        anomalies.uri, artifact_utils.decode_split_names(anomalies.properties['split_names'].string_value))
  evaluator = summary.component('Evaluator')
  if evaluator and evaluator.outputs.get('evaluation'):
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
  elif summary.component('ExampleValidator'):
    lines += ['Data anomalies: none', '']
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
    else:
      lines.append(f'RUN FAILED: {type(failure).__name__}: {failure}')
  return '\n'.join(lines)


def exit_code(summary: RunSummary, failure: Optional[BaseException]) -> int:
  """0 when the run completed (pushed or deliberately not blessed), 2 when the data stopped it, else 1."""
  del summary
  if isinstance(failure, DataValidationError):
    return EXIT_BAD_INPUT
  return EXIT_FAILED if failure is not None else EXIT_OK
