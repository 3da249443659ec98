"""The local DAG runner that runs independent components at the same time, on two processes.

TFX's LocalDagRunner launches nodes one after another. This one launches each node as soon as every node upstream
of it has finished, each with TFX's own Launcher (the same drivers, cache and ML Metadata records, all written from
this process). An executor runs in this process when no other executor does, else in the worker process of
pipeline/local/executor_worker.py: Beam's DirectRunner and TFDV hold Python's lock, so two executors in one process took
longer than one after the other (10x: 30 s for StatisticsGen and Transform together instead of 26 s one after the
other). After ExampleGen, StatisticsGen and Transform both read the new examples and run side by side.

Once no two of the nodes left can run side by side, the worker stops and gives its memory back (about 0.8 GB:
the Trainer and Evaluator run without it), when the runner is told it is the worker's last user.

Without a worker (local_runner.py's --side-by-side: by default a run over little data, executor_worker.wanted),
nodes run one at a time, executors here, and after each executor the process gives back the memory it freed
(process_tuning.release_memory).

When a node fails, no further node starts; the nodes already running finish, and the failure of the earliest node
in topological order is raised (so a data gate's report wins over anything that ran beside it).

After a run that succeeded, the runner asks TFX to resolve each resolver's inputs again: when every one resolves what
it resolved in the run, a next run with nothing changed would take every node from the cache (repeatable),
which pipeline/local/replay.py records without loading TFX.

A report function, when given, hears of each node as it starts (nodes with an executor: a resolver resolves at once)
and as it ends, with the state ML Metadata recorded (complete, cached, failed) and its seconds.
"""
from __future__ import annotations

import concurrent.futures
import datetime
import functools
import threading
import time
from typing import Callable, Collection, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from absl import logging
from google.protobuf import message
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import base_executor_operator, data_types, inputs_utils, launcher
from tfx.orchestration.portable import runtime_parameter_utils, tfx_runner
from tfx.proto.orchestration import executable_spec_pb2, execution_result_pb2, pipeline_pb2

from pipeline.local import process_tuning
from pipeline.local.executor_worker import ExecutorWorker, run_executor_here
from pipeline.local.replay import RESOLVER_TYPE

MAX_PARALLEL = 2  # nodes running at once: this machine's cores, this process and the worker.
LANE_SPECS = (executable_spec_pb2.PythonClassExecutableSpec, executable_spec_pb2.BeamExecutableSpec)
STARTED = 'STARTED'
Report = Callable[[str, str, Optional[float]], None]  # (node id, STARTED or the state it ended in, its seconds)
Launch = Callable[[str], Optional[data_types.ExecutionInfo]]  # runs a node by id; what TFX's Launcher returned


def run_in_dependency_order(order: Sequence[str], upstream: Mapping[str, Set[str]], run: Callable[[str], None],
                            max_parallel: int) -> List[str]:
  """Runs every node of `order` (topological) once all its upstream nodes ran, up to max_parallel at once.

  Returns the nodes in the order they started. On a failure no node starts any more, the running ones finish and
  the failure of the earliest failed node in `order` is raised.
  """
  started: List[str] = []
  done: Set[str] = set()
  failures: Dict[str, BaseException] = {}
  with concurrent.futures.ThreadPoolExecutor(max_workers=max_parallel) as pool:
    running: Dict[concurrent.futures.Future, str] = {}
    while True:
      if not failures:
        for node in order:
          if len(running) == max_parallel:
            break
          if node not in started and upstream[node] <= done:
            started.append(node)
            running[pool.submit(run, node)] = node
      if not running:
        break
      finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
      for future in finished:
        node = running.pop(future)
        if future.exception() is not None:
          failures[node] = future.exception()
        else:
          done.add(node)
  if failures:
    raise failures[min(failures, key=order.index)]
  return started


def all_upstream(upstream: Mapping[str, Set[str]]) -> Dict[str, Set[str]]:
  """Every node's upstream nodes, direct or not, from its direct ones."""
  found: Dict[str, Set[str]] = {}

  def visit(node: str) -> Set[str]:
    if node not in found:
      found[node] = set()
      for parent in upstream[node]:
        found[node] |= {parent} | visit(parent)
    return found[node]

  for node in upstream:
    visit(node)
  return found


def any_side_by_side(nodes: Collection[str], ancestry: Mapping[str, Set[str]]) -> bool:
  """Whether two of the nodes could run at the same time: neither is upstream of the other."""
  return any(b not in ancestry[a] and a not in ancestry[b] for a in nodes for b in nodes if a < b)


class ExecutorLanes:
  """Where executors run: in this process when it runs none, else in the worker once it is ready and idle; without a
  worker, here one at a time, each followed by process_tuning.release_memory()."""

  def __init__(self, worker: Optional[ExecutorWorker]):
    self._worker = worker
    self._changed = threading.Condition()
    self._busy = {'here': False, 'worker': False}
    self._retiring = False

  @property
  def has_worker(self) -> bool:
    """Whether executors may run in a worker (else all run here)."""
    return self._worker is not None

  def take_lane(self) -> str:
    """Waits for a free lane and takes it."""
    with self._changed:
      while True:
        if not self._busy['here']:
          lane = 'here'
        elif self._worker is not None and not self._busy['worker'] and self._worker.ready():
          lane = 'worker'
        else:
          self._changed.wait(timeout=0.5)  # the worker may become ready meanwhile.
          continue
        self._busy[lane] = True
        return lane

  def run(self, spec: message.Message, info: data_types.ExecutionInfo) -> execution_result_pb2.ExecutorOutput:
    """Runs an executor in the first free lane."""
    lane = self.take_lane()
    try:
      return run_executor_here(spec, info) if lane == 'here' else self._worker.run(spec, info)
    finally:
      if self._worker is None:
        process_tuning.release_memory()
      with self._changed:
        self._busy[lane] = False
        if lane == 'worker' and self._retiring:
          self._worker.close()
        self._changed.notify_all()

  def retire_worker(self) -> None:
    """Stops the worker now if it is idle, else as soon as its executor ends; executors then all run here."""
    with self._changed:
      self._retiring = True
      if self._worker is not None and not self._busy['worker']:
        self._worker.close()


class LaneExecutorOperator(base_executor_operator.BaseExecutorOperator):
  """TFX's executor operator for Python and Beam executors, running them in the run's ExecutorLanes."""
  SUPPORTED_EXECUTOR_SPEC_TYPE = list(LANE_SPECS)
  SUPPORTED_PLATFORM_CONFIG_TYPE = []

  def __init__(self, executor_spec: message.Message, platform_config: Optional[message.Message] = None, *,
               lanes: ExecutorLanes):
    super().__init__(executor_spec, platform_config)
    self._lanes = lanes

  def run_executor(self, execution_info: data_types.ExecutionInfo) -> execution_result_pb2.ExecutorOutput:
    return self._lanes.run(self._executor_spec, execution_info)


def execution_state(connection_config: message.Message, info: Optional[data_types.ExecutionInfo]) -> str:
  """The state ML Metadata recorded for the execution of a launched node: COMPLETE, CACHED, FAILED (a resolver that
  failed returns); SKIPPED when none was recorded."""
  if info is None or info.execution_id is None:
    return 'SKIPPED'
  with metadata.Metadata(connection_config) as m:
    [execution] = m.store.get_executions_by_id([info.execution_id])
  return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def ignore(node_id: str, state: str, seconds: Optional[float]) -> None:
  """A report that reports nothing."""
  del node_id, state, seconds


def metadata_connection(pipeline: pipeline_pb2.Pipeline) -> message.Message:
  """The ML Metadata connection config of a pipeline IR's local deployment."""
  connection = runner_utils.extract_local_deployment_config(pipeline).metadata_connection_config
  return getattr(connection, connection.WhichOneof('connection_config'))


def node_launcher(pipeline: pipeline_pb2.Pipeline, lanes: ExecutorLanes, report: Report = ignore
                  ) -> Tuple[Dict[str, pipeline_pb2.PipelineNode], Launch]:
  """The pipeline's nodes to run by id, in topological order, and the function that launches one of them and
  reports it."""
  deployment_config = runner_utils.extract_local_deployment_config(pipeline)
  connection_config = metadata_connection(pipeline)
  logging.info('Using connection config:\n %s', connection_config)  # as LocalDagRunner, at INFO (--verbose)
  nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in pipeline.nodes
           if not n.pipeline_node.execution_options.HasField('skip')}
  operators = {spec: functools.partial(LaneExecutorOperator, lanes=lanes) for spec in LANE_SPECS}

  def launch(node_id: str) -> Optional[data_types.ExecutionInfo]:
    executor_spec = runner_utils.extract_executor_spec(deployment_config, node_id)
    if executor_spec is not None:
      report(node_id, STARTED, None)
    started = time.monotonic()
    try:
      info = launcher.Launcher(
          pipeline_node=nodes[node_id],
          mlmd_connection=metadata.Metadata(connection_config),
          pipeline_info=pipeline.pipeline_info,
          pipeline_runtime_spec=pipeline.runtime_spec,
          executor_spec=executor_spec,
          custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment_config, node_id),
          custom_executor_operators=operators).launch()
    except BaseException:
      report(node_id, 'FAILED', time.monotonic() - started)
      raise
    report(node_id, execution_state(connection_config, info), time.monotonic() - started)
    return info

  return nodes, launch


def artifact_ids(artifacts: Mapping[str, Sequence[types.Artifact]]) -> Dict[str, List[int]]:
  """The ids of the artifacts under each key, sorted."""
  return {key: sorted(a.id for a in values) for key, values in artifacts.items()}


def resolvers_repeat(pipeline: pipeline_pb2.Pipeline, nodes: Mapping[str, pipeline_pb2.PipelineNode],
                     infos: Mapping[str, Optional[data_types.ExecutionInfo]]) -> bool:
  """Whether every resolver of a run that succeeded resolves now, with TFX's own input resolution, the artifacts it
  resolved in the run. A next run with nothing changed then takes every node from the cache: its resolvers read the
  same store, and every other node's inputs are the outputs of nodes upstream that came from the cache."""
  with metadata.Metadata(metadata_connection(pipeline)) as handle:
    for node_id, node in nodes.items():
      if node.node_info.type.name != RESOLVER_TYPE:
        continue
      info = infos.get(node_id)
      resolved = inputs_utils.resolve_input_artifacts(pipeline_node=node, metadata_handle=handle)
      if (info is None or isinstance(resolved, inputs_utils.Skip) or len(resolved) != 1 or
          artifact_ids(resolved[0]) != artifact_ids(info.output_dict)):
        return False
  return True


class ConcurrentDagRunner(tfx_runner.IrBasedRunner):
  """Runs a pipeline on this machine, independent nodes at the same time; otherwise as TFX's LocalDagRunner."""

  def __init__(self, worker: Optional[ExecutorWorker], run_id: Optional[str] = None, report: Report = ignore,
               retire_worker: bool = False):
    """worker: None runs every executor here; run_id names the pipeline_run context in ML Metadata (default: the
    time it starts, as LocalDagRunner); retire_worker: stop the worker once no two of the nodes left can run side by
    side (its last user says so)."""
    self._lanes = ExecutorLanes(worker)
    self._run_id = run_id
    self._report = report
    self._retire_worker = retire_worker
    # After a run that succeeded and whose resolvers resolve the same again: the names of each node's parameters
    # (what TFX registers for its execution, which pipeline/local/replay.py records); else None.
    self.repeatable: Optional[Dict[str, List[str]]] = None

  def run_with_ir(self, pipeline: pipeline_pb2.Pipeline,
                  run_options: Optional[pipeline_pb2.RunOptions] = None) -> None:
    """Runs every node of the pipeline IR once, each after its upstream nodes."""
    if run_options is not None:
      raise ValueError('partial runs (run_options) are not supported: use TFX\'s LocalDagRunner for them')
    runtime_parameter_utils.substitute_runtime_parameter(
        pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: self._run_id or datetime.datetime.now().isoformat()})
    nodes, launch = node_launcher(pipeline, self._lanes, self._report)
    upstream = {node_id: set(node.upstream_nodes) & set(nodes) for node_id, node in nodes.items()}
    if self._retire_worker:
      launch = self.retiring_worker_when_done(launch, pipeline, upstream)
    infos: Dict[str, Optional[data_types.ExecutionInfo]] = {}

    def launch_and_keep(node_id: str) -> None:
      infos[node_id] = launch(node_id)

    self.repeatable = None
    run_in_dependency_order(list(nodes), upstream, launch_and_keep, MAX_PARALLEL if self._lanes.has_worker else 1)
    try:
      if resolvers_repeat(pipeline, nodes, infos):
        self.repeatable = {node_id: sorted(node.parameters.parameters) for node_id, node in nodes.items()}
    except Exception:  # pylint: disable=broad-except  (the run succeeded; its next run goes through TFX)
      logging.exception('Resolving the resolvers\' inputs again failed')

  def retiring_worker_when_done(self, launch: Launch, pipeline: pipeline_pb2.Pipeline,
                                upstream: Mapping[str, Set[str]]) -> Launch:
    """launch, then retire the worker once no two of the executor nodes that have not ended can run side by side."""
    deployment_config = runner_utils.extract_local_deployment_config(pipeline)
    unfinished = {n for n in upstream if runner_utils.extract_executor_spec(deployment_config, n) is not None}
    ancestry = all_upstream(upstream)
    lock = threading.Lock()

    def launch_then_retire(node_id: str) -> Optional[data_types.ExecutionInfo]:
      try:
        return launch(node_id)
      finally:
        with lock:
          unfinished.discard(node_id)
          if not any_side_by_side(unfinished, ancestry):
            self._lanes.retire_worker()

    return launch_then_retire
