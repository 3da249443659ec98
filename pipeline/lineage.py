"""Questions about models, artifacts and runs, answered from ML Metadata (a SQLite file or MySQL/MariaDB).

  python -m pipeline.lineage [--metadata-uri URI] [--json] COMMAND
    model [--latest-pushed | ARTIFACT_ID]  what produced a model, back to the input files (default: latest pushed)
    consumers ARTIFACT_ID                   everything derived from an artifact, e.g. the models trained on examples
    runs [--limit N]                        recent runs: status, duration, cached components, metrics, blessing
    diff RUN_A RUN_B                        inputs, parameters, schema and metrics that changed between two runs
    dag [RUN] --output FILE                 a picture of a run's DAG: .png/.svg/.pdf (matplotlib) or .dot (Graphviz)

URI: a SQLite file (default outputs/metadata.db) or mysql://USER[:PASSWORD]@HOST:PORT/DATABASE; without a password
in it, $MLMD_MYSQL_PASSWORD is used. RUN is a run id as `runs` lists it, a unique prefix of one, latest or latest~N.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import glob
import io
import json
import logging
import math
import os
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from ml_metadata import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2  # noqa: E402
from tfx.dsl.io import fileio  # noqa: E402

from pipeline import config as config_lib  # noqa: E402
from pipeline import report  # noqa: E402

Artifact = metadata_store_pb2.Artifact
Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event
MetricsBySlice = Dict[Tuple[Tuple[str, str], ...], Dict[str, float]]

MADE = (Event.OUTPUT, Event.DECLARED_OUTPUT)  # not INTERNAL_OUTPUT: a Resolver passes artifacts on, makes none.
USED = (Event.INPUT, Event.DECLARED_INPUT)
CHAIN_ORDER = ('Examples', 'ExampleStatistics', 'Schema', 'ExampleAnomalies', 'TransformGraph', 'Model',
               'ModelEvaluation', 'ModelBlessing', 'PushedModel')
DATA_CHECK_TYPES = frozenset({'ExampleStatistics', 'ExampleAnomalies'})
MODEL_RESULT_TYPES = frozenset({'ModelEvaluation', 'ModelBlessing', 'PushedModel'})
SHOWN_PROPERTIES = ('split_names', 'span', 'blessed', 'pushed', 'pushed_destination')
DATA_PARAMETERS = ('input_base', 'input_fingerprint')
DIFF_METRICS = report.HEADLINE_METRICS + ('mean_label', 'mean_prediction')
STATE_COLOURS = {'COMPLETE': '#b7e1cd', 'CACHED': '#c9daf8', 'FAILED': '#f4c7c3'}
OTHER_STATE_COLOUR = '#fce8b2'


@dataclasses.dataclass(frozen=True)
class ExecutionRef:
  """An execution as people name it: node, run and state."""
  id: int
  node_id: str
  state: str
  run_id: str
  started: str


@dataclasses.dataclass(frozen=True)
class ArtifactRef:
  """An artifact with the execution that made it (its first producer; later cached runs reuse it)."""
  id: int
  type: str
  uri: str
  created: str
  made_by: Optional[ExecutionRef]
  output_key: str
  properties: Dict[str, str]


@dataclasses.dataclass(frozen=True)
class InputData:
  """The files an ExampleGen execution read."""
  examples_id: int
  input_base: str
  pattern: str
  fingerprint: str
  files: List[str]


@dataclasses.dataclass(frozen=True)
class ModelLineage:
  """A model, the chain of artifacts it came from and what came of it."""
  model: ArtifactRef
  inputs: List[InputData]
  chain: List[ArtifactRef]


@dataclasses.dataclass(frozen=True)
class Consumers:
  """The executions that used an artifact and every artifact derived from it."""
  artifact: ArtifactRef
  used_by: List[ExecutionRef]
  derived: List[ArtifactRef]
  models: List[ArtifactRef]  # the derived Model artifacts: the models trained on it


@dataclasses.dataclass(frozen=True)
class RunInfo:
  """One pipeline run in a line."""
  run_id: str
  started: str
  status: str  # COMPLETE, FAILED or RUNNING (also a run that was killed)
  seconds: float
  components: int
  cached: List[str]
  failed: List[str]
  metrics: Dict[str, float]
  blessed: Optional[bool]
  pushed_path: Optional[str]


@dataclasses.dataclass(frozen=True)
class Change:
  """One thing that differs between run A and run B (None: absent on that side)."""
  what: str
  a: Optional[str]
  b: Optional[str]


@dataclasses.dataclass(frozen=True)
class MetricChange:
  """One metric of one slice that differs between run A and run B."""
  slice: str
  metric: str
  a: Optional[float]
  b: Optional[float]
  delta: Optional[float]


@dataclasses.dataclass(frozen=True)
class RunDiff:
  """What changed between two runs."""
  run_a: str
  run_b: str
  inputs: List[Change]
  parameters: List[Change]
  outputs: List[Change]
  schema: List[Change]
  metrics: List[MetricChange]
  blessing: Optional[Change]


@dataclasses.dataclass(frozen=True)
class Dag:
  """The nodes of one run and the artifacts that flowed between them."""
  run_id: str
  nodes: List[Tuple[str, str]]  # (node id, state)
  edges: List[Tuple[str, str, str]]  # (from node, to node, artifact types)


def open_store(uri: str) -> metadata_store.MetadataStore:
  """The MLMD store of a metadata URI, to read; a SQLite file must exist and is opened read-only."""
  connection = config_lib.metadata_config(uri)
  if connection.HasField('sqlite'):
    if not os.path.exists(connection.sqlite.filename_uri):
      raise FileNotFoundError(f'no metadata store at {connection.sqlite.filename_uri}: run the pipeline first or '
                              'pass --metadata-uri')
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  try:
    return metadata_store.MetadataStore(connection)
  except RuntimeError as e:
    raise RuntimeError(f'cannot open the metadata store {config_lib.redact_uri(uri)}: {e}') from None


def local_time(ms: int) -> str:
  """An MLMD time (milliseconds since the epoch) as local time to the second."""
  return datetime.datetime.fromtimestamp(ms / 1000).isoformat(sep=' ', timespec='seconds')


def event_key(event: metadata_store_pb2.Event) -> str:
  """The input or output key an event links its artifact under."""
  return next((step.key for step in event.path.steps if step.HasField('key')), '')


def execution_ref(store: metadata_store.MetadataStore, execution: Execution) -> ExecutionRef:
  """An execution with its node id and the run it first ran in."""
  contexts = store.get_contexts_by_execution(execution.id)
  node = next((c.name for c in contexts if c.type == 'node'), execution.type)
  runs = sorted((c for c in contexts if c.type == 'pipeline_run'), key=lambda c: c.create_time_since_epoch)
  return ExecutionRef(execution.id, node.split('.', 1)[-1], Execution.State.Name(execution.last_known_state),
                      runs[0].name if runs else '', local_time(execution.create_time_since_epoch))


def producer(store: metadata_store.MetadataStore, artifact_id: int) -> Tuple[Optional[Execution], str]:
  """The execution that made an artifact (the first to output it) and the key it was output under."""
  events = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in MADE]
  if not events:
    return None, ''
  first = min(events, key=lambda e: e.execution_id)
  return store.get_executions_by_id([first.execution_id])[0], event_key(first)


def linked_artifacts(store: metadata_store.MetadataStore, execution_id: int,
                     event_types: Sequence[int]) -> List[Tuple[str, Artifact]]:
  """(key, artifact) for each input or output of an execution, by event type."""
  events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in event_types]
  by_id = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
  return [(event_key(e), by_id[e.artifact_id]) for e in events if e.artifact_id in by_id]


def artifact_ref(store: metadata_store.MetadataStore, artifact: Artifact) -> ArtifactRef:
  """An artifact with the execution that made it."""
  execution, key = producer(store, artifact.id)
  properties = {**artifact.properties, **artifact.custom_properties}
  return ArtifactRef(artifact.id, artifact.type, artifact.uri, local_time(artifact.create_time_since_epoch),
                     execution_ref(store, execution) if execution else None, key,
                     {name: report.value_text(properties[name]) for name in SHOWN_PROPERTIES if name in properties})


def get_artifact(store: metadata_store.MetadataStore, artifact_id: int) -> Artifact:
  """One artifact by id, or LookupError."""
  found = store.get_artifacts_by_id([artifact_id])
  if not found:
    raise LookupError(f'no artifact with id {artifact_id}')
  return found[0]


def upstream(store: metadata_store.MetadataStore, artifact: Artifact) -> List[Artifact]:
  """The artifact and every artifact it was made from, through the inputs of each producer."""
  seen = {artifact.id: artifact}
  queue = [artifact]
  while queue:
    execution, _ = producer(store, queue.pop().id)
    if execution is None:
      continue
    for _, parent in linked_artifacts(store, execution.id, USED):
      if parent.id not in seen:
        seen[parent.id] = parent
        queue.append(parent)
  return list(seen.values())


def downstream(store: metadata_store.MetadataStore, artifact_id: int, follow: Optional[Set[str]] = None,
               first_keys: Optional[Set[str]] = None) -> Tuple[List[Execution], List[Artifact]]:
  """Executions that used an artifact and every artifact they made, recursively.

  follow limits the walk to artifacts of those types; first_keys to consumers that took the artifact under those
  input keys (an Evaluator takes its candidate as 'model' and the previous blessed one as 'baseline_model').
  """
  executions: Dict[int, Execution] = {}
  derived: Dict[int, Artifact] = {}
  queue = [artifact_id]
  while queue:
    current = queue.pop()
    events = [e for e in store.get_events_by_artifact_ids([current]) if e.type in USED]
    if current == artifact_id and first_keys is not None:
      events = [e for e in events if event_key(e) in first_keys]
    new_ids = sorted({e.execution_id for e in events} - set(executions))
    for execution in store.get_executions_by_id(new_ids):
      executions[execution.id] = execution
      for _, child in linked_artifacts(store, execution.id, MADE):
        if child.id not in derived and child.id != artifact_id and (follow is None or child.type in follow):
          derived[child.id] = child
          queue.append(child.id)
  return sorted(executions.values(), key=lambda e: e.id), sorted(derived.values(), key=lambda a: a.id)


def chain_rank(artifact: Artifact) -> Tuple[int, int, int]:
  """Sort key of the model chain: the order of the pipeline's steps, then creation."""
  rank = CHAIN_ORDER.index(artifact.type) if artifact.type in CHAIN_ORDER else len(CHAIN_ORDER)
  return rank, artifact.create_time_since_epoch, artifact.id


def input_data(store: metadata_store.MetadataStore, examples: Artifact) -> Optional[InputData]:
  """The files an Examples artifact was read from, when an ExampleGen made it."""
  execution, _ = producer(store, examples.id)
  if execution is None or 'input_base' not in execution.custom_properties:
    return None
  parameters = report.execution_parameters(execution)
  base = parameters['input_base']
  splits = json.loads(parameters.get('input_config') or '{}').get('splits', [])
  pattern = splits[0].get('pattern', '*') if len(splits) == 1 else '*'
  files = sorted(glob.glob(os.path.join(base, pattern))) if os.path.isdir(base) else []
  return InputData(examples.id, base, pattern, parameters.get('input_fingerprint', ''), files)


def model_of(store: metadata_store.MetadataStore, artifact: Artifact) -> Artifact:
  """The Model an artifact names: itself, or the model a PushedModel, ModelBlessing or evaluation was made from.

  ML Metadata keeps one input event per artifact and execution, so an Evaluator that compared a model with
  itself (a rerun whose Trainer came from the cache) records it as its baseline_model only.
  """
  if artifact.type == 'Model':
    return artifact
  execution, _ = producer(store, artifact.id)
  used = linked_artifacts(store, execution.id, USED) if execution else []
  models = ([a for key, a in used if key == 'model'] or [a for key, a in used if key == 'baseline_model'])
  if not models:
    raise ValueError(f'artifact {artifact.id} is a {artifact.type}, not a model or something made from one')
  return models[0]


def latest_artifact(store: metadata_store.MetadataStore, type_name: str,
                    where: Optional[Callable[[Artifact], bool]] = None) -> Optional[Artifact]:
  """The newest artifact of a type, optionally among those for which where(artifact) is true."""
  artifacts = [a for a in store.get_artifacts_by_type(type_name) if where is None or where(a)]
  return max(artifacts, key=lambda a: (a.create_time_since_epoch, a.id), default=None)


def latest_pushed_model(store: metadata_store.MetadataStore) -> Artifact:
  """The newest PushedModel that was really pushed (Pusher records one with pushed=0 when it skips)."""
  pushed = latest_artifact(store, 'PushedModel', lambda a: bool(report.int_property(a, 'pushed')))
  if pushed is None:
    raise LookupError('no model has been pushed yet; pass a Model artifact id (see the runs command)')
  return pushed


def model_lineage(store: metadata_store.MetadataStore, artifact_id: Optional[int] = None) -> ModelLineage:
  """The chain that produced a model, from its input files to its evaluation, blessing and pushed model.

  artifact_id may name a Model or something made from one (a PushedModel, say); None: the latest pushed model.
  """
  named = get_artifact(store, artifact_id) if artifact_id is not None else latest_pushed_model(store)
  model = model_of(store, named)
  chain = {a.id: a for a in upstream(store, model)}
  inputs = [data for data in (input_data(store, a) for a in chain.values() if a.type == 'Examples') if data]
  for data in inputs:
    chain.update((a.id, a) for a in downstream(store, data.examples_id, follow=set(DATA_CHECK_TYPES))[1])
  chain.update((a.id, a) for a in downstream(store, model.id, set(MODEL_RESULT_TYPES), first_keys={'model'})[1])
  ordered = sorted(chain.values(), key=chain_rank)
  return ModelLineage(artifact_ref(store, model), inputs, [artifact_ref(store, a) for a in ordered])


def consumers(store: metadata_store.MetadataStore, artifact_id: int) -> Consumers:
  """The executions that used an artifact and everything derived from it."""
  artifact = get_artifact(store, artifact_id)
  executions, derived = downstream(store, artifact_id)
  direct = {e.execution_id for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in USED}
  refs = [artifact_ref(store, a) for a in derived]
  return Consumers(artifact_ref(store, artifact), [execution_ref(store, e) for e in executions if e.id in direct],
                   refs, [a for a in refs if a.type == 'Model'])


def run_status(states: Iterable[str]) -> str:
  """COMPLETE when every component completed or came from the cache, FAILED when one failed, else RUNNING."""
  states = set(states)
  if 'FAILED' in states:
    return 'FAILED'
  return 'COMPLETE' if states and states <= {'COMPLETE', 'CACHED'} else 'RUNNING'


def run_info(summary: report.RunSummary) -> RunInfo:
  """The line `runs` shows for one run."""
  components = summary.components
  started = min((c.started_ms for c in components), default=0)
  seconds = (max((c.ended_ms for c in components), default=0) - started) / 1000
  overall = summary.metrics.get((), {})
  return RunInfo(summary.run_id, local_time(started) if started else '', run_status(c.state for c in components),
                 seconds, len(components), [c.node_id for c in components if c.cached],
                 [c.node_id for c in components if c.state == 'FAILED'],
                 {name: overall[name] for name in report.HEADLINE_METRICS if name in overall},
                 summary.blessed, summary.pushed_path)


def list_runs(store: metadata_store.MetadataStore, pipeline_name: str, limit: int) -> List[RunInfo]:
  """The newest runs of a pipeline, newest first."""
  return [run_info(report.summarize_run(store, run)) for run in report.run_contexts(store, pipeline_name)[:limit]]


def resolve_run(store: metadata_store.MetadataStore, pipeline_name: str,
                ref: str) -> metadata_store_pb2.Context:
  """The run a reference names: an id, a unique prefix of one, latest or latest~N (N runs before the latest)."""
  runs = report.run_contexts(store, pipeline_name)
  if ref == 'latest' or ref.startswith('latest~'):
    back = int(ref.partition('~')[2] or 0)
    if back >= len(runs):
      raise LookupError(f'{ref}: only {len(runs)} runs of {pipeline_name} are recorded')
    return runs[back]
  matches = [r for r in runs if r.name == ref] or [r for r in runs if r.name.startswith(ref)]
  if len(matches) != 1:
    known = ', '.join(r.name for r in runs[:5]) or 'none'
    problem = 'matches several runs' if matches else 'matches no run'
    raise LookupError(f'{ref} {problem} of {pipeline_name} (newest: {known})')
  return matches[0]


def flatten(prefix: str, value: Any) -> Dict[str, str]:
  """Nested JSON values as dotted keys: {'a': {'b': [1]}} -> {'a.b[0]': '1'}."""
  if isinstance(value, dict):
    return {k: v for key, item in value.items() for k, v in flatten(f'{prefix}.{key}', item).items()}
  if isinstance(value, list):
    return {k: v for i, item in enumerate(value) for k, v in flatten(f'{prefix}[{i}]', item).items()}
  return {prefix: value if isinstance(value, str) else json.dumps(value)}


def parameter_items(parameters: Dict[str, str]) -> Dict[str, str]:
  """Execution parameters with JSON ones (configs, protos) flattened so that a diff names the field."""
  items = {}
  for name, text in parameters.items():
    try:
      value = json.loads(text) if text[:1] in '{[' and text else text
    except json.JSONDecodeError:
      value = text
    items.update(flatten(name, value) if isinstance(value, (dict, list)) else {name: text})
  return items


def changes(a: Dict[str, str], b: Dict[str, str], prefix: str = '') -> List[Change]:
  """Keys whose values differ between two mappings."""
  return [Change(f'{prefix}{key}', a.get(key), b.get(key)) for key in sorted(set(a) | set(b))
          if a.get(key) != b.get(key)]


def artifact_label(artifacts: List[Artifact]) -> str:
  """'Examples 1' (or several, comma-separated) for a list of artifacts."""
  return ', '.join(f'{a.type} {a.id}' for a in sorted(artifacts, key=lambda a: a.id))


def input_changes(a: report.RunSummary, b: report.RunSummary) -> List[Change]:
  """The data read and the artifacts each component took that differ."""
  found = []
  for name in DATA_PARAMETERS:
    found += changes(data_parameters(a, name), data_parameters(b, name))
  for node in node_union(a, b):
    found += changes(keyed_labels(a, node, 'inputs'), keyed_labels(b, node, 'inputs'), f'{node}.')
  return found


def data_parameters(summary: report.RunSummary, name: str) -> Dict[str, str]:
  """{'Node.name': value} for the components of a run that have that parameter."""
  return {f'{c.node_id}.{name}': c.parameters[name] for c in summary.components if name in c.parameters}


def keyed_labels(summary: report.RunSummary, node: str, side: str) -> Dict[str, str]:
  """A component's input or output artifacts by key, as labels."""
  component = summary.component(node)
  return {key: artifact_label(artifacts) for key, artifacts in getattr(component, side).items()} if component else {}


def node_union(a: report.RunSummary, b: report.RunSummary) -> List[str]:
  """Node ids of both runs, in run order."""
  nodes = [c.node_id for c in a.components]
  return nodes + [c.node_id for c in b.components if c.node_id not in nodes]


def parameter_changes(a: report.RunSummary, b: report.RunSummary) -> List[Change]:
  """Component parameters that differ: not the data parameters (inputs), nor TFX's own __entries__."""
  found = []
  for node in node_union(a, b):
    params = [parameter_items(user_parameters(s.component(node).parameters)) if s.component(node) else {}
              for s in (a, b)]
    found += changes(params[0], params[1], f'{node}.')
  return found


def user_parameters(parameters: Dict[str, str]) -> Dict[str, str]:
  """Parameters without the data ones and without what TFX records itself (__execution_result__ of a failure)."""
  return {k: v for k, v in parameters.items() if k not in DATA_PARAMETERS and not k.startswith('__')}


def output_changes(a: report.RunSummary, b: report.RunSummary) -> List[Change]:
  """Outputs that are different artifacts (components that ran again rather than reuse a result, resolvers that
  found another artifact)."""
  found = []
  for node in node_union(a, b):
    for side in ('outputs', 'resolved'):
      found += changes(keyed_labels(a, node, side), keyed_labels(b, node, side), f'{node}.')
  return found


def schema_artifact(summary: report.RunSummary) -> Optional[Artifact]:
  """The schema a run used."""
  return next((c.outputs['schema'][0] for c in summary.components if c.outputs.get('schema')), None)


def load_schema(artifact: Artifact):
  """The schema proto of a Schema artifact."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.load_schema_text(os.path.join(artifact.uri, 'schema.pbtxt'))


def schema_changes(schema_a, schema_b) -> List[Change]:
  """Features and string domains added, removed or changed (naming the changed fields) between two schemas."""
  found = []
  for kind, items_a, items_b in (('feature', schema_a.feature, schema_b.feature),
                                 ('domain', schema_a.string_domain, schema_b.string_domain)):
    by_name_a, by_name_b = {x.name: x for x in items_a}, {x.name: x for x in items_b}
    for name in sorted(set(by_name_a) | set(by_name_b)):
      x, y = by_name_a.get(name), by_name_b.get(name)
      if x is None or y is None:
        found.append(Change(f'{kind} {name}', 'present' if x else None, 'present' if y else None))
      elif x != y:
        fields = [f.name for f in x.DESCRIPTOR.fields if getattr(x, f.name) != getattr(y, f.name)]
        found.append(Change(f'{kind} {name} ({", ".join(fields)})', field_text(x, fields), field_text(y, fields)))
  return found


def field_text(message, fields: List[str]) -> str:
  """The named fields of a proto message on one line."""
  return '; '.join(f'{f}: {" ".join(str(getattr(message, f)).split())}' for f in fields)


def same(x: Optional[float], y: Optional[float]) -> bool:
  """Equal metric values, NaN equal to NaN."""
  if x is None or y is None:
    return x is None and y is None
  return x == y or (math.isnan(x) and math.isnan(y))


def metric_changes(a: MetricsBySlice, b: MetricsBySlice,
                   names: Sequence[str] = DIFF_METRICS) -> List[MetricChange]:
  """Metrics of each slice (overall first) that differ between two runs' evaluations."""
  found = []
  for key in sorted(set(a) | set(b), key=lambda k: (len(k), k)):
    for name in names:
      x, y = a.get(key, {}).get(name), b.get(key, {}).get(name)
      if not same(x, y):
        delta = y - x if x is not None and y is not None else None
        found.append(MetricChange(report.slice_name(key), name, x, y, delta))
  return found


def blessing_text(summary: report.RunSummary) -> Optional[str]:
  """BLESSED, NOT BLESSED or None when the run has no blessing."""
  return None if summary.blessed is None else 'BLESSED' if summary.blessed else 'NOT BLESSED'


def diff_summaries(a: report.RunSummary, b: report.RunSummary, schema: Sequence[Change] = ()) -> RunDiff:
  """Everything that changed from run summary a to b, with the schema changes found by the caller."""
  blessing = (Change('blessing', blessing_text(a), blessing_text(b))
              if blessing_text(a) != blessing_text(b) else None)
  return RunDiff(a.run_id, b.run_id, input_changes(a, b), parameter_changes(a, b), output_changes(a, b),
                 list(schema), metric_changes(a.metrics, b.metrics), blessing)


def diff_runs(store: metadata_store.MetadataStore, pipeline_name: str, ref_a: str, ref_b: str) -> RunDiff:
  """What changed from run A to run B."""
  a, b = (report.summarize_run(store, resolve_run(store, pipeline_name, ref)) for ref in (ref_a, ref_b))
  return diff_summaries(a, b, run_schema_changes(schema_artifact(a), schema_artifact(b)))


def run_schema_changes(a: Optional[Artifact], b: Optional[Artifact]) -> List[Change]:
  """The changes between two runs' schemas: none when they are one artifact, by feature when both are readable."""
  if a is None or b is None or a.id == b.id:
    return []
  if not (fileio.exists(a.uri) and fileio.exists(b.uri)):
    return [Change('schema (files not readable from here)', f'Schema {a.id}', f'Schema {b.id}')]
  return schema_changes(load_schema(a), load_schema(b))


def run_dag(summary: report.RunSummary) -> Dag:
  """A run's components and, between them, the artifacts one made (or resolved) and another used."""
  made_by: Dict[int, str] = {}  # the producer of an artifact wins over a resolver that passed it on.
  for component in summary.components:
    for artifacts in component.resolved.values():
      made_by.update((a.id, component.node_id) for a in artifacts)
  for component in summary.components:
    for artifacts in component.outputs.values():
      made_by.update((a.id, component.node_id) for a in artifacts)
  flows: Dict[Tuple[str, str], Set[str]] = {}
  for component in summary.components:
    for artifacts in component.inputs.values():
      for artifact in artifacts:
        source = made_by.get(artifact.id)
        if source and source != component.node_id:
          flows.setdefault((source, component.node_id), set()).add(artifact.type)
  return Dag(summary.run_id, [(c.node_id, c.state) for c in summary.components],
             [(s, t, ', '.join(sorted(types))) for (s, t), types in flows.items()])


def dag_dot(dag: Dag) -> str:
  """The DAG in Graphviz's DOT language."""
  lines = [f'digraph "{dag.run_id}" {{', '  rankdir=LR;', '  node [shape=box, style="rounded,filled"];']
  for node, state in dag.nodes:
    colour = STATE_COLOURS.get(state, OTHER_STATE_COLOUR)
    lines.append(f'  "{node}" [label="{node}\\n{state.lower()}", fillcolor="{colour}"];')
  lines += [f'  "{s}" -> "{t}" [label="{types}"];' for s, t, types in dag.edges]
  return '\n'.join(lines + ['}']) + '\n'


def dag_layers(dag: Dag) -> Dict[str, int]:
  """Each node's column: the length of the longest chain of flows that leads to it."""
  depth = {node: 0 for node, _ in dag.nodes}
  for _ in dag.nodes:
    for source, target, _ in dag.edges:
      depth[target] = max(depth[target], depth[source] + 1)
  return depth


def draw_dag(dag: Dag, target: Union[str, io.BytesIO], image_format: str = 'png') -> None:
  """Draws the DAG left to right with matplotlib, nodes coloured by state, to a file name or a buffer."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from matplotlib.patches import Patch  # pylint: disable=g-import-not-at-top
  depth = dag_layers(dag)
  columns: Dict[int, List[str]] = {}
  for node, _ in dag.nodes:
    columns.setdefault(depth[node], []).append(node)
  rows = max((len(nodes) for nodes in columns.values()), default=1)
  position = {node: (3.0 * col, (rows - 1) / 2 - i) for col, nodes in columns.items()
              for i, node in enumerate(nodes)}
  figure = Figure(figsize=(2.2 * (len(columns) or 1) + 1, 1.1 * rows + 1.2))
  axes = figure.subplots()
  boxes = {node: axes.text(*position[node], f'{node}\n{state.lower()}', ha='center', va='center', fontsize=8,
                           bbox={'boxstyle': 'round,pad=0.4', 'ec': '#333333',
                                 'fc': STATE_COLOURS.get(state, OTHER_STATE_COLOUR)})
           for node, state in dag.nodes}
  for source, target_node, _ in dag.edges:
    axes.annotate('', xy=(0, 0.5), xycoords=boxes[target_node], xytext=(1, 0.5), textcoords=boxes[source],
                  arrowprops={'arrowstyle': '->', 'color': '#555555', 'shrinkA': 4, 'shrinkB': 4,
                              'connectionstyle': 'arc3,rad=0.06'})
  axes.set_xlim(-1.4, 3.0 * max(columns, default=0) + 1.4)
  axes.set_ylim(-rows / 2 - 0.2, rows / 2 + 0.2)
  axes.axis('off')
  states = sorted({state for _, state in dag.nodes})
  axes.legend(handles=[Patch(color=STATE_COLOURS.get(s, OTHER_STATE_COLOUR), label=s.lower()) for s in states],
              loc='lower right', fontsize=7, frameon=False)
  axes.set_title(f'Run {dag.run_id}', fontsize=9)
  figure.savefig(target, format=image_format, bbox_inches='tight', dpi=110)


def write_dag(dag: Dag, path: str) -> None:
  """Writes the DAG picture; the file's extension picks the format (.dot: Graphviz text)."""
  extension = os.path.splitext(path)[1].lower().lstrip('.')
  if extension == 'dot':
    with open(path, 'w', encoding='utf-8') as f:
      f.write(dag_dot(dag))
  elif extension in ('png', 'svg', 'pdf'):
    draw_dag(dag, path, extension)
  else:
    raise ValueError(f'{path}: write the DAG as .png, .svg, .pdf or .dot')


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


def format_model_lineage(lineage: ModelLineage) -> str:
  """The model command's text."""
  lines = [f'Model {lineage.model.id}  {lineage.model.uri}',
           f'made by {made_by_text(lineage.model.made_by)} at {lineage.model.created}', '']
  for data in lineage.inputs:
    lines.append(f'Input files (Examples {data.examples_id}): {data.input_base}/{data.pattern}  [{data.fingerprint}]')
    lines += [f'  {path}' for path in data.files] or ['  (not readable from here)']
  lines += ['', text_table(('artifact', 'id', 'created', 'made by', 'uri', 'properties'),
                           artifact_rows(lineage.chain))]
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


def format_runs(runs: List[RunInfo]) -> str:
  """The runs command's text."""
  rows = []
  for r in runs:
    status = f'{r.status} ({", ".join(r.failed)})' if r.failed else r.status
    blessing = '' if r.blessed is None else 'blessed' if r.blessed else 'not blessed'
    metrics = '  '.join(f'{k}={v:.4f}' for k, v in r.metrics.items() if k in ('auc', 'binary_accuracy'))
    rows.append([r.run_id, status, f'{r.seconds:.1f}', f'{len(r.cached)}/{r.components}', metrics, blessing,
                 r.pushed_path or ''])
  return text_table(('run', 'status', 'seconds', 'cached', 'metrics (overall)', 'blessing', 'pushed'), rows) \
      if runs else 'No runs recorded.'


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


DEFAULT_METADATA_URI = os.path.join(config_lib.DEFAULT_OUTPUT_ROOT, config_lib.METADATA_FILE)


def common_options(with_defaults: bool) -> argparse.ArgumentParser:
  """--metadata-uri, --pipeline-name and --json. Without defaults, for the commands: there they only override."""
  defaults = {'metadata_uri': DEFAULT_METADATA_URI, 'pipeline_name': config_lib.PIPELINE_NAME, 'json': False}
  if not with_defaults:
    defaults = dict.fromkeys(defaults, argparse.SUPPRESS)
  parser = argparse.ArgumentParser(add_help=False)
  parser.add_argument('--metadata-uri', default=defaults['metadata_uri'],
                      help='SQLite file or mysql://USER[:PASSWORD]@HOST:PORT/DATABASE '
                           f'(default: {DEFAULT_METADATA_URI})')
  parser.add_argument('--pipeline-name', default=defaults['pipeline_name'],
                      help=f'(default: {config_lib.PIPELINE_NAME})')
  parser.add_argument('--json', action='store_true', default=defaults['json'], help='print JSON, for scripts')
  return parser


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
  """The command line; the common options may come before or after the command."""
  parser = argparse.ArgumentParser(prog='python -m pipeline.lineage', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   parents=[common_options(True)])
  commands = parser.add_subparsers(dest='command', required=True)
  model = commands.add_parser('model', parents=[common_options(False)], help='what produced a model')
  which = model.add_mutually_exclusive_group()
  which.add_argument('--latest-pushed', action='store_true', help='the model pushed last (the default)')
  which.add_argument('artifact_id', nargs='?', type=int, help='a Model (or PushedModel, ModelBlessing) id')
  derived = commands.add_parser('consumers', parents=[common_options(False)],
                                help='everything derived from an artifact')
  derived.add_argument('artifact_id', type=int)
  runs = commands.add_parser('runs', parents=[common_options(False)], help='recent runs')
  runs.add_argument('--limit', type=int, default=10, help='how many runs (default: %(default)s)')
  diff = commands.add_parser('diff', parents=[common_options(False)], help='what changed between two runs')
  diff.add_argument('run_a')
  diff.add_argument('run_b')
  dag = commands.add_parser('dag', parents=[common_options(False)], help='a picture of a run')
  dag.add_argument('run', nargs='?', default='latest')
  dag.add_argument('--output', required=True, help='.png, .svg, .pdf or .dot file to write')
  return parser.parse_args(argv)


def answer(store: metadata_store.MetadataStore, args: argparse.Namespace) -> Tuple[Any, str]:
  """The command's result and its text."""
  if args.command == 'model':
    lineage = model_lineage(store, args.artifact_id)
    return lineage, format_model_lineage(lineage)
  if args.command == 'consumers':
    found = consumers(store, args.artifact_id)
    return found, format_consumers(found)
  if args.command == 'runs':
    runs = list_runs(store, args.pipeline_name, args.limit)
    return runs, format_runs(runs)
  if args.command == 'diff':
    diff = diff_runs(store, args.pipeline_name, args.run_a, args.run_b)
    return diff, format_diff(diff)
  dag = run_dag(report.summarize_run(store, resolve_run(store, args.pipeline_name, args.run)))
  write_dag(dag, args.output)
  return {**dataclasses.asdict(dag), 'file': args.output}, f'Wrote the DAG of run {dag.run_id} to {args.output}'


def main(argv: Optional[List[str]] = None) -> int:
  """Answers one question; 1 with a message on stderr when it cannot."""
  args = parse_args(argv)
  logging.getLogger('tensorflow').setLevel(logging.ERROR)
  logging.getLogger('absl').setLevel(logging.ERROR)
  try:
    result, text = answer(open_store(args.metadata_uri), args)
  except (LookupError, ValueError, OSError, RuntimeError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(json.dumps(jsonable(result), indent=2) if args.json else text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
