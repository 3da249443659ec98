"""Every access to ML Metadata: opening a store (SQLite or MySQL/MariaDB), and the lineage questions the gates, the
span window, the run summary, the lineage CLI, the notebooks and the benchmark ask of it.

TFX's own launcher and resolvers open their connections from the pipeline's connection config; everything else in
this project reads the store through this module.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import urllib.parse
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from google.protobuf import json_format
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

Artifact = metadata_store_pb2.Artifact
Context = metadata_store_pb2.Context
Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event
State = Execution.State
Store = metadata_store.MetadataStore

MYSQL_PASSWORD_ENV = 'MLMD_MYSQL_PASSWORD'
MYSQL_DEFAULT_PORT = 3306
MADE = (Event.OUTPUT, Event.DECLARED_OUTPUT)  # not INTERNAL_OUTPUT: a Resolver passes artifacts on, makes none.
USED = (Event.INPUT, Event.DECLARED_INPUT)
RESOLVED = Event.INTERNAL_OUTPUT  # what a Resolver passed on.
PASSED = (State.COMPLETE, State.CACHED)
PUSHER_NODE = 'Pusher'  # the Pusher's node id in pipeline/dag.py.


# Connections.

def sqlite_metadata(path: str) -> metadata_store_pb2.ConnectionConfig:
  """An MLMD connection to a SQLite file, created if missing."""
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
  return config


def mysql_metadata(host: str, port: int, database: str, user: str,
                   password: str) -> metadata_store_pb2.ConnectionConfig:
  """An MLMD connection to a MySQL or MariaDB database (native-password auth), created if missing."""
  config = metadata_store_pb2.ConnectionConfig()
  config.mysql.host = host
  config.mysql.port = port
  config.mysql.database = database
  config.mysql.user = user
  config.mysql.password = password
  return config


def redact_uri(uri: str) -> str:
  """A metadata URI fit to print: any password replaced by ***."""
  parsed = urllib.parse.urlsplit(uri)
  if parsed.password is None:
    return uri
  host = parsed.netloc.rsplit('@', 1)[1]
  return urllib.parse.urlunsplit(parsed._replace(netloc=f'{parsed.username}:***@{host}'))


def metadata_config(uri: str, environ: Mapping[str, str] = os.environ) -> metadata_store_pb2.ConnectionConfig:
  """The MLMD connection of a --metadata-uri.

  A path (or sqlite:///path) is a SQLite file; mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE is a MySQL or
  MariaDB database. Without a password in the URI, the one in $MLMD_MYSQL_PASSWORD is used, so that it need not
  appear on a command line. Use 127.0.0.1 rather than localhost: MLMD's client then connects over TCP.
  """
  parsed = urllib.parse.urlsplit(uri)
  if parsed.scheme == 'mysql':
    database = parsed.path.strip('/')
    if not parsed.hostname or not parsed.username or not database:
      raise ValueError(f'expected mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE, got {redact_uri(uri)}')
    password = (urllib.parse.unquote(parsed.password) if parsed.password is not None
                else environ.get(MYSQL_PASSWORD_ENV, ''))
    return mysql_metadata(parsed.hostname, parsed.port or MYSQL_DEFAULT_PORT, database,
                          urllib.parse.unquote(parsed.username), password)
  if parsed.scheme == 'sqlite':
    return sqlite_metadata(os.path.abspath(parsed.path))
  if parsed.scheme:
    raise ValueError(f'unsupported metadata URI {redact_uri(uri)}: give a SQLite path or mysql://...')
  return sqlite_metadata(os.path.abspath(uri))


def describe_metadata(connection: metadata_store_pb2.ConnectionConfig) -> str:
  """Where an MLMD connection points, fit to print (never the password)."""
  if connection.HasField('mysql'):
    mysql = connection.mysql
    return f'mysql://{mysql.user}@{mysql.host}:{mysql.port}/{mysql.database}'
  if connection.HasField('sqlite'):
    return connection.sqlite.filename_uri
  return connection.WhichOneof('config') or '(none)'


def keep_password_out_of_logs(connection: metadata_store_pb2.ConnectionConfig) -> None:
  """From now on, every log record shows a MySQL connection's password as ***.

  TFX logs connection configs at INFO level (--verbose): its LocalDagRunner logs the whole one.
  """
  from google.protobuf import text_encoding  # pylint: disable=g-import-not-at-top
  password = connection.mysql.password if connection.HasField('mysql') else ''
  if not password:
    return
  secrets = {password, text_encoding.CEscape(password, as_utf8=True)}
  make_record = logging.getLogRecordFactory()

  def redacted_record(*args, **kwargs) -> logging.LogRecord:
    record = make_record(*args, **kwargs)
    try:
      message = record.getMessage()
    except (TypeError, ValueError):
      return record
    if any(secret in message for secret in secrets):
      for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, '***')
      record.msg, record.args = message, ()
    return record

  logging.setLogRecordFactory(redacted_record)


def open_store(connection: metadata_store_pb2.ConnectionConfig, read_only: bool = False) -> Store:
  """The store of a connection. Read-only: a SQLite file must exist, and is opened read-only."""
  if read_only and connection.HasField('sqlite'):
    if not os.path.exists(connection.sqlite.filename_uri):
      raise FileNotFoundError(f'no metadata store at {connection.sqlite.filename_uri}: run the pipeline first or '
                              'pass --metadata-uri')
    connection = metadata_store_pb2.ConnectionConfig.FromString(connection.SerializeToString())
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  try:
    return Store(connection)
  except RuntimeError as e:
    raise RuntimeError(f'cannot open the metadata store {describe_metadata(connection)}: {e}') from None


def open_uri(uri: str) -> Store:
  """The store of a --metadata-uri, to read."""
  return open_store(metadata_config(uri), read_only=True)


# Properties.

def value_text(value: metadata_store_pb2.Value) -> str:
  """An MLMD property value as text; structs (and protos) as compact JSON."""
  kind = value.WhichOneof('value')
  if kind in ('struct_value', 'proto_value'):
    return json.dumps(json_format.MessageToDict(getattr(value, kind)), sort_keys=True)
  return str(getattr(value, kind)) if kind else ''


def int_property(artifact: Artifact, name: str) -> Optional[int]:
  """An int property or custom property of an artifact, or None."""
  for properties in (artifact.properties, artifact.custom_properties):
    if name in properties:
      return properties[name].int_value
  return None


def execution_parameters(execution: Execution) -> Dict[str, str]:
  """An execution's parameters (MLMD custom properties) as text."""
  return {name: value_text(value) for name, value in sorted(execution.custom_properties.items())}


def event_key(event: Event) -> str:
  """The input or output key an event links its artifact under."""
  return next((step.key for step in event.path.steps if step.HasField('key')), '')


def node_of(contexts: Iterable[Context]) -> str:
  """The pipeline node id among an execution's contexts (its node context's name after the pipeline name)."""
  return next((c.name.split('.', 1)[-1] for c in contexts if c.type == 'node'), '')


def placement(store: Store, execution_id: int) -> Tuple[str, List[str]]:
  """An execution's node id and the runs it belongs to, oldest first (a cached execution's first run is its own)."""
  contexts = store.get_contexts_by_execution(execution_id)
  runs = sorted((c for c in contexts if c.type == 'pipeline_run'), key=lambda c: (c.create_time_since_epoch, c.id))
  return node_of(contexts), [c.name for c in runs]


# Walking lineage.

def get_artifact(store: Store, artifact_id: int) -> Artifact:
  """One artifact by id, or LookupError."""
  found = store.get_artifacts_by_id([artifact_id])
  if not found:
    raise LookupError(f'no artifact with id {artifact_id}')
  return found[0]


def producer(store: Store, artifact_id: int) -> Tuple[Optional[Execution], str]:
  """The execution that made an artifact (the first to output it) and the key it was output under."""
  events = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in MADE]
  if not events:
    return None, ''
  first = min(events, key=lambda e: e.execution_id)
  return store.get_executions_by_id([first.execution_id])[0], event_key(first)


def linked_artifacts(store: Store, execution_id: int, event_types: Sequence[int]) -> List[Tuple[str, Artifact]]:
  """(key, artifact) for each input or output of an execution, by event type."""
  events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in event_types]
  by_id = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
  return [(event_key(e), by_id[e.artifact_id]) for e in events if e.artifact_id in by_id]


def producer_inputs(store: Store, artifact_id: int, key: str) -> List[int]:
  """Ids of the artifacts that the executions which made an artifact took as input `key`."""
  makers = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in MADE]
  return sorted({e.artifact_id for e in store.get_events_by_execution_ids(makers)
                 if e.type in USED and event_key(e) == key})


def users(store: Store, artifact_ids: List[int], input_key: Optional[str] = None) -> List[Execution]:
  """The executions that took any of the artifacts as input (as input `input_key`, when given)."""
  ids = sorted({e.execution_id for e in store.get_events_by_artifact_ids(artifact_ids)
                if e.type in USED and input_key in (None, event_key(e))})
  return store.get_executions_by_id(ids) if ids else []


def made_by_users(store: Store, artifact_id: int, type_name: str) -> List[int]:
  """Ids of the artifacts of a type that the executions which used an artifact made."""
  used_by = sorted({e.execution_id for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in USED})
  made = [e.artifact_id for e in store.get_events_by_execution_ids(used_by) if e.type in MADE] if used_by else []
  return sorted({a.id for a in store.get_artifacts_by_id(made) if a.type == type_name}) if made else []


def upstream(store: Store, artifact: Artifact) -> List[Artifact]:
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


def downstream(store: Store, artifact_id: int, follow: Optional[Set[str]] = None,
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


def latest_artifact(store: Store, type_name: str,
                    where: Optional[Callable[[Artifact], bool]] = None) -> Optional[Artifact]:
  """The newest artifact of a type, optionally among those for which where(artifact) is true."""
  artifacts = [a for a in store.get_artifacts_by_type(type_name) if where is None or where(a)]
  return max(artifacts, key=lambda a: (a.create_time_since_epoch, a.id), default=None)


def under(uri: str, directory: str) -> bool:
  """Whether an artifact URI lies under a directory ('' holds everything)."""
  return not directory or uri.startswith(directory.rstrip('/') + '/')


def pushed_models(store: Store, pipeline_name: str = '', directory: str = '') -> List[Artifact]:
  """The PushedModels that were really pushed (Pusher records one with pushed=0 when it skips), newest first.

  pipeline_name: only that pipeline's; directory: only those whose artifact lies under it.
  """
  pushed = [a for a in store.get_artifacts_by_type('PushedModel') if int_property(a, 'pushed')]
  if pipeline_name:
    ids = {a.id for a in node_artifacts(store, pipeline_name, PUSHER_NODE)}
    pushed = [a for a in pushed if a.id in ids]
  pushed = [a for a in pushed if under(a.uri, directory)]
  return sorted(pushed, key=lambda a: (a.create_time_since_epoch, a.id), reverse=True)


def node_artifacts(store: Store, pipeline_name: str, node_id: str) -> List[Artifact]:
  """The artifacts recorded in a pipeline node's context (what it made or used, in every run)."""
  node = store.get_context_by_type_and_name('node', f'{pipeline_name}.{node_id}')
  return store.get_artifacts_by_context(node.id) if node is not None else []


# Runs.

@dataclasses.dataclass(frozen=True)
class ComponentRun:
  """One node of one pipeline run."""
  node_id: str
  state: str  # COMPLETE, CACHED, FAILED, RUNNING ...
  seconds: float
  outputs: Dict[str, List[Artifact]]
  inputs: Dict[str, List[Artifact]] = dataclasses.field(default_factory=dict)
  execution_id: int = 0
  started_ms: int = 0  # MLMD times: milliseconds since the epoch.
  ended_ms: int = 0
  parameters: Dict[str, str] = dataclasses.field(default_factory=dict)
  resolved: Dict[str, List[Artifact]] = dataclasses.field(default_factory=dict)  # by a Resolver

  @property
  def cached(self) -> bool:
    return self.state == 'CACHED'


def run_contexts(store: Store, pipeline_name: str) -> List[Context]:
  """The pipeline_run contexts of a pipeline, newest first."""
  pipeline = store.get_context_by_type_and_name('pipeline', pipeline_name)
  if pipeline is None:
    return []
  runs = [c for c in store.get_children_contexts_by_context(pipeline.id) if c.type == 'pipeline_run']
  return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)


def latest_run_context(store: Store, pipeline_name: str) -> Optional[Context]:
  """The newest pipeline_run context of a pipeline."""
  return next(iter(run_contexts(store, pipeline_name)), None)


def component_runs(store: Store, run_context_id: int) -> List[ComponentRun]:
  """Each execution of a run with its node id, state, times, parameters and artifacts by key."""
  runs = []
  for execution in sorted(store.get_executions_by_context(run_context_id), key=lambda e: e.id):
    contexts = store.get_contexts_by_execution(execution.id)
    events = store.get_events_by_execution_ids([execution.id])
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: Dict[str, List[Artifact]] = {}
    inputs: Dict[str, List[Artifact]] = {}
    resolved: Dict[str, List[Artifact]] = {}
    for event in events:
      by_key = (outputs if event.type in MADE else inputs if event.type in USED + (Event.INTERNAL_INPUT,) else
                resolved if event.type == RESOLVED else None)
      if by_key is not None and event.artifact_id in artifacts:
        by_key.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
    seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
    parameters = execution_parameters(execution)
    cache = next((c for c in contexts if c.type == 'execution_cache'), None)
    if execution.last_known_state == State.CACHED and cache is not None:
      parameters = {**parameters, **original_parameters(store, cache.id)}
    runs.append(ComponentRun(node_of(contexts), State.Name(execution.last_known_state), seconds, outputs, inputs,
                             execution.id, execution.create_time_since_epoch,
                             execution.last_update_time_since_epoch, parameters, resolved))
  return runs


def original_parameters(store: Store, cache_context_id: int) -> Dict[str, str]:
  """The parameters of the first completed execution under a cache key: the one a cached execution reuses.

  A cached execution records the parameters known before it ran, not those its driver would have resolved
  (ExampleGen's input fingerprint and span), and some in another form (a bool as 'false' rather than 0); the
  execution whose results it reuses ran with the same ones and has them all.
  """
  complete = [e for e in store.get_executions_by_context(cache_context_id) if e.last_known_state == State.COMPLETE]
  return execution_parameters(min(complete, key=lambda e: e.id)) if complete else {}
