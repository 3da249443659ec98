"""Questions about models, artifacts and runs, answered from ML Metadata: what produced a model, what was derived
from an artifact, which runs there were."""
from __future__ import annotations

import dataclasses
import datetime
import glob
import json
import math
import os
from typing import Dict, Iterable, List, Optional, Tuple

from pipeline import metadata
from pipeline.evaluation import metric_names
from pipeline.reporting import run_summary

Artifact = metadata.Artifact
Execution = metadata.Execution

CHAIN_ORDER = ('Examples', 'ExampleStatistics', 'Schema', 'ExampleAnomalies', 'TransformGraph', 'HyperParameters',
               'Model', 'ModelEvaluation', 'ModelBlessing', 'PushedModel')
DATA_CHECK_TYPES = frozenset({'ExampleStatistics', 'ExampleAnomalies'})
MODEL_RESULT_TYPES = frozenset({'ModelEvaluation', 'ModelBlessing', 'PushedModel'})
SHOWN_PROPERTIES = ('split_names', 'span', 'blessed', 'pushed', 'pushed_destination')


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
class ModelHyperparameters:
  """The hyperparameters a model trained with (the Trainer's record beside it) and where they came from."""
  values: Dict[str, object]  # empty: no record beside the model (trained before it, or not readable from here)
  source: str  # 'tuned', 'defaults' (declared in models/) or '' without a record
  tuned_values: Dict[str, object]  # the Tuner's values behind a tuned source
  overrides: Dict[str, object]  # keys of the Trainer's custom_config that overrode either
  tuned_by: Optional[ArtifactRef]  # the HyperParameters artifact the Trainer took, with the Tuner that made it
  origin: str  # that tuning as the run summary names it ('' without one)


@dataclasses.dataclass(frozen=True)
class ModelLineage:
  """A model, the chain of artifacts it came from and what came of it."""
  model: ArtifactRef
  inputs: List[InputData]
  chain: List[ArtifactRef]
  hyperparameters: Optional[ModelHyperparameters] = None


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
  auc_change: Optional[float] = None  # overall AUC minus that of the previous run that has one

  @property
  def auc(self) -> Optional[float]:
    """The overall AUC of the run's evaluation, None without one (or when it is undefined)."""
    value = self.metrics.get(metric_names.AUC)
    return None if value is None or math.isnan(value) else value


def local_time(ms: int) -> str:
  """An MLMD time (milliseconds since the epoch) as local time to the second."""
  return datetime.datetime.fromtimestamp(ms / 1000).isoformat(sep=' ', timespec='seconds')


def execution_ref(store: metadata.Store, execution: Execution) -> ExecutionRef:
  """An execution with its node id and the run it first ran in."""
  node, runs = metadata.placement(store, execution.id)
  return ExecutionRef(execution.id, node or execution.type.split('.', 1)[-1],
                      Execution.State.Name(execution.last_known_state), runs[0] if runs else '',
                      local_time(execution.create_time_since_epoch))


def artifact_ref(store: metadata.Store, artifact: Artifact) -> ArtifactRef:
  """An artifact with the execution that made it."""
  execution, key = metadata.producer(store, artifact.id)
  properties = {**artifact.properties, **artifact.custom_properties}
  return ArtifactRef(artifact.id, artifact.type, artifact.uri, local_time(artifact.create_time_since_epoch),
                     execution_ref(store, execution) if execution else None, key,
                     {name: metadata.value_text(properties[name]) for name in SHOWN_PROPERTIES if name in properties})


def chain_rank(artifact: Artifact) -> Tuple[int, int, int]:
  """Sort key of the model chain: the order of the pipeline's steps, then creation."""
  rank = CHAIN_ORDER.index(artifact.type) if artifact.type in CHAIN_ORDER else len(CHAIN_ORDER)
  return rank, artifact.create_time_since_epoch, artifact.id


def input_data(store: metadata.Store, examples: Artifact) -> Optional[InputData]:
  """The files an Examples artifact was read from, when an ExampleGen made it."""
  execution, _ = metadata.producer(store, examples.id)
  if execution is None or 'input_base' not in execution.custom_properties:
    return None
  parameters = metadata.execution_parameters(execution)
  base = parameters['input_base']
  splits = json.loads(parameters.get('input_config') or '{}').get('splits', [])
  pattern = splits[0].get('pattern', '*') if len(splits) == 1 else '*'
  files = sorted(glob.glob(os.path.join(base, pattern))) if os.path.isdir(base) else []
  return InputData(examples.id, base, pattern, parameters.get('input_fingerprint', ''), files)


def model_of(store: metadata.Store, artifact: Artifact) -> Artifact:
  """The Model an artifact names: itself, or the model a PushedModel, ModelBlessing or evaluation was made from.

  ML Metadata keeps one input event per artifact and execution, so an Evaluator that compared a model with
  itself (a rerun whose Trainer came from the cache) records it as its baseline_model only.
  """
  if artifact.type == 'Model':
    return artifact
  execution, _ = metadata.producer(store, artifact.id)
  used = metadata.linked_artifacts(store, execution.id, metadata.USED) if execution else []
  models = ([a for key, a in used if key == 'model'] or [a for key, a in used if key == 'baseline_model'])
  if not models:
    raise ValueError(f'artifact {artifact.id} is a {artifact.type}, not a model or something made from one')
  return models[0]


def trainer_input(store: metadata.Store, model: Artifact, key: str) -> Optional[Artifact]:
  """The artifact the execution that made a model took as input `key`, or None."""
  execution, _ = metadata.producer(store, model.id)
  used = metadata.linked_artifacts(store, execution.id, metadata.USED) if execution else []
  return next((a for k, a in used if k == key), None)


def model_hyperparameters(store: metadata.Store, model: Artifact) -> ModelHyperparameters:
  """What the Trainer recorded beside a model about its hyperparameters, with the tuning behind them."""
  record = run_summary.read_hparams(model.uri)
  tuned = trainer_input(store, model, 'hyperparameters')
  return ModelHyperparameters(record.get('hparams', {}), record.get('source', ''), record.get('tuned_values', {}),
                              record.get('overrides', {}), artifact_ref(store, tuned) if tuned else None,
                              run_summary.tuning_origin(store, tuned.id) if tuned else '')


def latest_pushed_model(store: metadata.Store) -> Artifact:
  """The newest PushedModel that was really pushed (Pusher records one with pushed=0 when it skips)."""
  pushed = metadata.pushed_models(store)
  if not pushed:
    raise LookupError('no model has been pushed yet; pass a Model artifact id (see the runs command)')
  return pushed[0]


def model_lineage(store: metadata.Store, artifact_id: Optional[int] = None) -> ModelLineage:
  """The chain that produced a model, from its input files to its evaluation, blessing and pushed model.

  artifact_id may name a Model or something made from one (a PushedModel, say); None: the latest pushed model.
  """
  named = metadata.get_artifact(store, artifact_id) if artifact_id is not None else latest_pushed_model(store)
  model = model_of(store, named)
  chain = {a.id: a for a in metadata.upstream(store, model)}
  inputs = [data for data in (input_data(store, a) for a in chain.values() if a.type == 'Examples') if data]
  for data in inputs:
    chain.update((a.id, a) for a in metadata.downstream(store, data.examples_id, follow=set(DATA_CHECK_TYPES))[1])
  results = metadata.downstream(store, model.id, set(MODEL_RESULT_TYPES), first_keys={'model'})[1]
  chain.update((a.id, a) for a in results)
  ordered = sorted(chain.values(), key=chain_rank)
  return ModelLineage(artifact_ref(store, model), inputs, [artifact_ref(store, a) for a in ordered],
                      model_hyperparameters(store, model))


def consumers(store: metadata.Store, artifact_id: int) -> Consumers:
  """The executions that used an artifact and everything derived from it."""
  artifact = metadata.get_artifact(store, artifact_id)
  executions, derived = metadata.downstream(store, artifact_id)
  direct = {e.id for e in metadata.users(store, [artifact_id])}
  refs = [artifact_ref(store, a) for a in derived]
  return Consumers(artifact_ref(store, artifact), [execution_ref(store, e) for e in executions if e.id in direct],
                   refs, [a for a in refs if a.type == 'Model'])


def run_status(states: Iterable[str]) -> str:
  """COMPLETE when every component completed or came from the cache, FAILED when one failed, else RUNNING."""
  states = set(states)
  if 'FAILED' in states:
    return 'FAILED'
  return 'COMPLETE' if states and states <= {'COMPLETE', 'CACHED'} else 'RUNNING'


def run_info(summary: run_summary.RunSummary) -> RunInfo:
  """The line `runs` shows for one run."""
  components = summary.components
  started = min((c.started_ms for c in components), default=0)
  seconds = (max((c.ended_ms for c in components), default=0) - started) / 1000
  overall = summary.metrics.get((), {})
  return RunInfo(summary.run_id, local_time(started) if started else '', run_status(c.state for c in components),
                 seconds, len(components), [c.node_id for c in components if c.cached],
                 [c.node_id for c in components if c.state == 'FAILED'],
                 {name: overall[name] for name in metric_names.HEADLINE if name in overall},
                 summary.blessed, summary.pushed_path)


def with_auc_changes(runs: List[RunInfo]) -> List[RunInfo]:
  """Runs (newest first) with the change of each one's overall AUC from the next older run that has one."""
  changed = []
  for i, run in enumerate(runs):
    previous = next((r.auc for r in runs[i + 1:] if r.auc is not None), None)
    change = run.auc - previous if run.auc is not None and previous is not None else None
    changed.append(dataclasses.replace(run, auc_change=change))
  return changed


def list_runs(store: metadata.Store, pipeline_name: str, limit: int) -> List[RunInfo]:
  """The newest runs of a pipeline, newest first, each with its AUC change (the oldest listed from the run before
  it, when there is one)."""
  runs = metadata.run_contexts(store, pipeline_name)[:limit + 1]
  return with_auc_changes([run_info(run_summary.summarize_run(store, run)) for run in runs])[:limit]


def auc_trend(runs: List[RunInfo]) -> List[Tuple[str, Optional[float]]]:
  """(run id, overall AUC or None) of runs listed newest first, oldest first: the AUC's course over them."""
  return [(run.run_id, run.auc) for run in reversed(runs)]


def resolve_run(store: metadata.Store, pipeline_name: str,
                ref: str) -> metadata.Context:
  """The run a reference names: an id, a unique prefix of one, latest or latest~N (N runs before the latest)."""
  runs = metadata.run_contexts(store, pipeline_name)
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
