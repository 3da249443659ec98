"""A rerun that TFX would take wholly from its cache, recorded and reported without loading TensorFlow.

TFX decides that a node is cached from its resolved inputs, parameters and code; loading TFX and TensorFlow to decide
it takes most of an 8 s rerun. After a run that succeeded, a next run with the same code, configuration, installed
packages and input files, against a store nothing wrote to since, takes every node from the cache when its resolvers
resolve what they resolved in that run: every other node then gets the inputs it had, the outputs of nodes upstream
that came from the cache. That holds when TFX, asked at the end of the run, resolved each resolver's inputs again to
the same artifacts (pipeline/local/concurrent_runner.py; a first run too: the drift gate is not given the statistics
of the data it checks, nor the Evaluator the model just trained as its baseline), and after a run that wrote no
artifact (a replayed one), which leaves the resolvers the same store. Such a next run is recorded here as TFX records a
cached one (a new pipeline_run context, and for each execution of the previous run a CACHED copy with its
parameters as registered, contexts and events), and its summary and report are made from what the previous run left
beside the record (its run summary and the report's inputs, which a cached run shares with it).

Anything else (a run whose resolvers would find something new, as a --warm-start run whose model was blessed; any
change; --no-cache; a --window over spans) runs through TFX. The record lives under <output-root>/replay/ and holds a
digest, never a password.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import pickle
import site
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

from google.protobuf import message
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import config as config_lib
from pipeline import metadata
from pipeline.local import console

if TYPE_CHECKING:  # the report's modules load pandas and matplotlib: only once a run is replayed or remembered.
  from pipeline.reporting import html_report, run_summary

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CODE = ('local_runner.py', 'pipeline', 'models', 'preprocessing', 'schema')  # what the pipeline runs
RECORD_DIR = 'replay'
RECORD_FILE = 'record.json'
REPORT_INPUTS_FILE = 'report-inputs.pickle'  # (RunSummary, html_report.ReportInputs) of the recorded run
REPLAYED = 'Nothing changed since run'  # how the console starts to say that a run was replayed
RESOLVER_TYPE = 'tfx.dsl.components.common.resolver.Resolver'
NodeT = TypeVar('NodeT', metadata.Execution, metadata.Context)


@dataclasses.dataclass(frozen=True)
class Record:
  """A run that a next one with nothing changed repeats from the cache, and what made it: the digest of its code,
  configuration, packages and input files, and the store's state after it."""
  run_id: str
  fingerprint: str
  store_state: List[List[int]]
  parameter_names: Dict[str, List[str]]  # of each node: what TFX registers for its execution


def files_under(root: Path) -> Iterator[Path]:
  """Every file under root (root itself when it is a file), in a fixed order, without Python's caches."""
  if root.is_file():
    yield root
    return
  for directory, subdirectories, files in os.walk(root):
    subdirectories[:] = sorted(d for d in subdirectories if d != '__pycache__')
    yield from (Path(directory) / f for f in sorted(files))


def fingerprint(config: config_lib.PipelineConfig, code_root: Path = PROJECT_ROOT) -> str:
  """A digest of what decides a run: the configuration, Python and every installed package's version, the
  project's code and schema (their bytes), and each input file's path, size and modification time (what TFX's
  ExampleGen fingerprints)."""
  digest = hashlib.sha256()

  def add(*parts: object) -> None:
    digest.update(json.dumps(parts, default=str).encode())
    digest.update(b'\0')

  add(json.dumps(dataclasses.asdict(config), sort_keys=True, default=proto_text), sys.version)
  add(installed_packages())
  for name in CODE:
    for path in files_under(code_root / name):
      add(str(path.relative_to(code_root)))
      digest.update(path.read_bytes())
  for root in (config.data_root, config.inference_data_root):
    if root:
      for path in files_under(Path(root)):
        stat = path.stat()
        add(str(path), stat.st_size, stat.st_mtime_ns)
  return digest.hexdigest()


def installed_packages() -> List[str]:
  """The installed distributions, as their metadata folders in the interpreter's site-packages name them
  (name-version.dist-info)."""
  return sorted(entry for directory in site.getsitepackages() if os.path.isdir(directory)
                for entry in os.listdir(directory) if entry.endswith(('.dist-info', '.egg-info')))


def proto_text(value: object) -> str:
  """A protocol buffer (the metadata connection) in the configuration's digest; str() of anything else."""
  return value.SerializeToString(deterministic=True).hex() if isinstance(value, message.Message) else str(value)


def store_state(store: metadata.Store) -> List[List[int]]:
  """The newest id and update time of the store's artifacts, executions and contexts: any write changes one."""
  state = []
  for get in (store.get_artifacts, store.get_executions, store.get_contexts):
    newest = [get(list_options=metadata_store.ListOptions(limit=1, order_by=order, is_asc=False))
              for order in (metadata_store.OrderByField.ID, metadata_store.OrderByField.UPDATE_TIME)]
    state.append([newest[0][0].id if newest[0] else 0,
                  newest[1][0].last_update_time_since_epoch if newest[1] else 0])
  return state


def record_dir(output_root: str) -> Path:
  return Path(output_root) / RECORD_DIR


def forget(output_root: str) -> None:
  """Removes the record: the next run goes through TFX."""
  for name in (RECORD_FILE, REPORT_INPUTS_FILE):
    (record_dir(output_root) / name).unlink(missing_ok=True)


def remember(store: metadata.Store, config: config_lib.PipelineConfig, output_root: str,
             summary: run_summary.RunSummary, inputs: html_report.ReportInputs,
             parameter_names: Mapping[str, Sequence[str]], digest: str = '') -> None:
  """After a run that succeeded and that a next run with nothing changed would take from the cache node for node (its
  resolvers resolve the same again, or it was replayed): records it, when it read local input files, else forgets
  any record. parameter_names: of each node (pipeline/local/concurrent_runner.py); digest: the run's fingerprint,
  when known. A record that cannot be written is no record: the next run goes through TFX."""
  run = metadata.latest_run_context(store, config.pipeline_name)
  if run is None or run.name != summary.run_id or not replayable_config(config):
    forget(output_root)
    return
  directory = record_dir(output_root)
  try:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / REPORT_INPUTS_FILE, 'wb') as f:  # the record names its run: it is written last
      pickle.dump((summary, inputs), f)
    record = Record(summary.run_id, digest or fingerprint(config), store_state(store),
                    {node: list(names) for node, names in parameter_names.items()})
    partial = directory / f'.{RECORD_FILE}.partial'
    partial.write_text(json.dumps(dataclasses.asdict(record)))
    os.replace(partial, directory / RECORD_FILE)
  except (OSError, pickle.PicklingError):
    forget(output_root)


def replayable_config(config: config_lib.PipelineConfig) -> bool:
  """Whether a run of this configuration may be replayed: with the cache on, one span's run (a --window over spans
  backfills other runs first) and local input files."""
  return (config.enable_cache and config.window == 1 and config.backfill_span is None and
          all(os.path.isdir(root) for root in (config.data_root, config.inference_data_root) if root))


def recorded_run(config: config_lib.PipelineConfig, output_root: str
                 ) -> Optional[Tuple[metadata.Store, metadata.Context, run_summary.RunSummary, html_report.ReportInputs,
                                     Record]]:
  """The store, the recorded run, its summary and report inputs and the record, when this run would repeat that run;
  else None (also for a record of an earlier version of this module)."""
  path = record_dir(output_root) / RECORD_FILE
  if not replayable_config(config) or not path.exists():
    return None
  try:
    record = Record(**json.loads(path.read_text()))
  except (TypeError, ValueError):
    return None
  store = metadata.open_store(config.metadata_connection_config)
  run = metadata.latest_run_context(store, config.pipeline_name)
  if run is None or run.name != record.run_id or store_state(store) != record.store_state:
    return None
  if any(not os.path.exists(a.uri) for a in store.get_artifacts_by_context(run.id)):
    return None  # a directory was removed: TFX decides what to do.
  if fingerprint(config) != record.fingerprint:
    return None
  with open(record_dir(output_root) / REPORT_INPUTS_FILE, 'rb') as f:
    summary, inputs = pickle.load(f)
  return store, run, summary, inputs, record


def copied(node: NodeT, name: str) -> NodeT:
  """A new node of the store (an execution or context) like node: the same type, state and properties, the name
  given, without the id and times the store gives it."""
  copy = type(node)()
  copy.CopyFrom(node)
  for field in ('id', 'type', 'create_time_since_epoch', 'last_update_time_since_epoch'):
    copy.ClearField(field)
  copy.name = name
  return copy


def as_registered(execution: metadata.Execution, parameter_names: Sequence[str]) -> None:
  """Leaves an executed node's custom properties as TFX registers them before its cache lookup, which is all a cached
  execution records: its parameters with their __schema__ entries, a boolean as the JSON true or false. Once its
  executor ran, TFX republishes what the executor was given: a boolean as an int, and what a driver added
  (ExampleGen's span and input fingerprint)."""
  registered = set(parameter_names) | {f'__schema__{name}__' for name in parameter_names}
  for key in [key for key in execution.custom_properties if key not in registered]:
    del execution.custom_properties[key]
  for key, value in execution.custom_properties.items():
    schema = execution.custom_properties.get(f'__schema__{key}__')
    if schema is not None and value.WhichOneof('value') == 'int_value' and (
        'boolean_type' in json.loads(schema.string_value or '{}').get('value_type', {})):
      value.string_value = json.dumps(bool(value.int_value))


def node_id(contexts: Sequence[metadata.Context]) -> str:
  """The pipeline node an execution ran, from its contexts (TFX names the node context <pipeline>.<node id>)."""
  return next(c.name.rsplit('.', 1)[-1] for c in contexts if c.type == 'node')


def record_cached_run(store: metadata.Store, previous: metadata.Context, run_id: str,
                      parameter_names: Mapping[str, Sequence[str]]) -> metadata.Context:
  """Records a new pipeline_run context with a copy of each execution of the previous run, in the same order: the
  same type, properties (of an execution that ran, as TFX registers them: as_registered), contexts (the new run
  instead of the previous one) and events, CACHED but for a resolver's (COMPLETE, as TFX records it every time)."""
  run = copied(previous, name=run_id)
  [run.id] = store.put_contexts([run])
  store.put_parent_contexts([metadata_store_pb2.ParentContext(child_id=run.id, parent_id=p.id)
                             for p in store.get_parent_contexts_by_context(previous.id)])
  for execution in sorted(store.get_executions_by_context(previous.id), key=lambda e: e.id):
    copy = copied(execution, name=str(uuid.uuid4()))  # TFX names an execution by a UUID.
    contexts = [run if c.id == previous.id else c for c in store.get_contexts_by_execution(execution.id)]
    if execution.last_known_state == metadata.State.COMPLETE and execution.type != RESOLVER_TYPE:
      copy.last_known_state = metadata.State.CACHED
      as_registered(copy, parameter_names[node_id(contexts)])
    events = store.get_events_by_execution_ids([execution.id])
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    copied_events = []
    for event in events:
      new_event = metadata.Event(type=event.type, artifact_id=event.artifact_id)
      new_event.path.CopyFrom(event.path)
      copied_events.append((artifacts[event.artifact_id], new_event))
    store.put_execution(copy, copied_events, contexts, reuse_context_if_already_exist=True)
  return run


def replayed_summary(store: metadata.Store, run: metadata.Context,
                     previous: run_summary.RunSummary) -> run_summary.RunSummary:
  """The summary of the replayed run: the previous run's findings (the same artifacts) with this run's components."""
  return dataclasses.replace(previous, run_id=run.name, components=metadata.component_runs(store, run.id))


def replayed_report_inputs(summary: run_summary.RunSummary,
                           previous: html_report.ReportInputs) -> html_report.ReportInputs:
  """The report inputs of the replayed run: the previous run's, with this run first among the recent runs."""
  from pipeline.lineage import queries  # pylint: disable=g-import-not-at-top
  from pipeline.reporting import html_report  # pylint: disable=g-import-not-at-top
  runs = queries.with_auc_changes([queries.run_info(summary)] + list(previous.runs))[:html_report.RECENT_RUNS]
  return dataclasses.replace(previous, runs=runs)


def new_run_id() -> str:
  """The pipeline_run context's name, as the TFX path names it."""
  return datetime.datetime.now().isoformat()


def replay(config: config_lib.PipelineConfig, output_root: str, out: console.Console, verbose: bool) -> bool:
  """Replays the run when nothing changed since a run it repeats from the cache: records it, prints its rows (with
  verbose, the summary's table) and summary, writes its report. Returns whether it did; the caller holds the run
  lock."""
  started = time.monotonic()
  recorded = recorded_run(config, output_root)
  if recorded is None:
    return False
  from pipeline.reporting import html_report, run_summary  # pylint: disable=g-import-not-at-top
  store, previous, previous_summary, previous_inputs, record = recorded
  run = record_cached_run(store, previous, new_run_id(), record.parameter_names)
  summary = replayed_summary(store, run, previous_summary)
  inputs = replayed_report_inputs(summary, previous_inputs)
  if not verbose:
    out.say('\n'.join([run_summary.format_header(run.name)] +
                       [run_summary.format_row(c.node_id, c.state, c.seconds) for c in summary.components]))
  out.say(f'{REPLAYED} {previous.name} (code, configuration, packages, input files, ML Metadata): '
          'its cached results recorded as this run, without loading TFX')
  wall_seconds = time.monotonic() - started
  out.say(run_summary.format_summary(summary, None, wall_seconds, out.log_path, components=verbose))
  out.say(html_report.write_report(output_root, summary, None, wall_seconds, inputs))
  remember(store, config, output_root, summary, inputs, record.parameter_names, record.fingerprint)
  return True
