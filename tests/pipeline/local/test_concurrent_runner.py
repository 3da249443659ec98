"""The concurrent runner: dependencies, two nodes at once, which failure is raised, where executors run, when the
worker stops, what it reports as nodes start and end."""
import concurrent.futures
import logging
import os
import threading
import time

import psutil
import pytest
from tfx import v1 as tfx
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import metadata
from tfx.types import channel, component_spec, standard_artifacts

from conftest import PidWritingExecutor, execution, wait_until_ready
from pipeline.gates.data import DataValidationError
from pipeline.local import executor_worker, process_tuning
from pipeline.local.concurrent_runner import (ConcurrentDagRunner, ExecutorLanes, all_upstream, any_side_by_side,
                                              run_in_dependency_order)

DIAMOND = {'a': set(), 'b': {'a'}, 'c': {'a'}, 'd': {'b', 'c'}}
ORDER = ['a', 'b', 'c', 'd']


def test_independent_nodes_run_at_the_same_time_and_each_after_its_upstream_nodes():
  both_running = threading.Barrier(2, timeout=10)  # broken unless b and c run at once
  finished = []

  def run(node):
    assert DIAMOND[node] <= set(finished), f'{node} started before {DIAMOND[node] - set(finished)} finished'
    if node in 'bc':
      both_running.wait()
    finished.append(node)

  assert run_in_dependency_order(ORDER, DIAMOND, run, max_parallel=2) == ORDER
  assert finished[0] == 'a' and finished[-1] == 'd'


def test_one_at_a_time_runs_the_topological_order():
  running = []

  def run(node):
    running.append(node)
    assert len(running) == 1, running
    time.sleep(0.05)
    running.remove(node)

  assert run_in_dependency_order(ORDER, DIAMOND, run, max_parallel=1) == ORDER


def test_after_a_failure_no_node_starts_and_the_running_ones_finish():
  finished = []

  def run(node):
    if node == 'b':
      raise ValueError('b failed')
    if node == 'c':
      time.sleep(0.3)
    finished.append(node)

  with pytest.raises(ValueError, match='b failed'):
    run_in_dependency_order(ORDER, DIAMOND, run, max_parallel=2)
  assert finished == ['a', 'c']


def test_the_earliest_node_in_order_wins_when_several_fail():
  def run(node):
    if node == 'b':
      time.sleep(0.3)  # fails last, but comes first in the topological order: a gate before what ran beside it
      raise ValueError('b failed')
    if node == 'c':
      raise RuntimeError('c failed')

  with pytest.raises(ValueError, match='b failed'):
    run_in_dependency_order(ORDER, DIAMOND, run, max_parallel=2)


def test_an_executor_runs_in_the_worker_while_another_runs_here(worker, tmp_path):
  lanes = ExecutorLanes(worker)
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    first = pool.submit(lanes.run, *execution(tmp_path / 'first', 'first', seconds=2))
    time.sleep(0.5)
    second = pool.submit(lanes.run, *execution(tmp_path / 'second', 'second', seconds=2))
    first.result()
    second.result()
  lanes.run(*execution(tmp_path / 'third', 'third'))
  pid, started, ended = {}, {}, {}
  for name in ('first', 'second', 'third'):
    process, start, end, _ = (tmp_path / name / 'model' / 'pid').read_text().split()
    pid[name], started[name], ended[name] = int(process), float(start), float(end)
  assert pid == {'first': os.getpid(), 'second': worker.pid, 'third': os.getpid()}
  assert started['second'] < ended['first']  # side by side


def test_every_node_upstream_of_another_directly_or_not_is_found():
  assert all_upstream(DIAMOND) == {'a': set(), 'b': {'a'}, 'c': {'a'}, 'd': {'a', 'b', 'c'}}


def test_two_nodes_run_side_by_side_only_when_neither_is_upstream_of_the_other():
  ancestry = all_upstream(DIAMOND)
  assert any_side_by_side({'b', 'c'}, ancestry)
  assert any_side_by_side({'b', 'c', 'd'}, ancestry)
  assert not any_side_by_side({'a', 'b', 'd'}, ancestry)
  assert not any_side_by_side({'d'}, ancestry)
  assert not any_side_by_side(set(), ancestry)


def wait_until_gone(pid: int, seconds: float = 10) -> bool:
  """Whether the process has ended (and been reaped) within the time."""
  deadline = time.monotonic() + seconds
  while psutil.pid_exists(pid) and time.monotonic() < deadline:
    time.sleep(0.1)
  return not psutil.pid_exists(pid)


def test_a_retired_worker_ends_its_executor_then_stops_and_later_executors_run_here(tmp_path):
  with executor_worker.started(logging.WARNING) as worker:
    wait_until_ready(worker)
    lanes = ExecutorLanes(worker)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
      here = pool.submit(lanes.run, *execution(tmp_path / 'here', 'here', seconds=2))
      time.sleep(0.5)
      there = pool.submit(lanes.run, *execution(tmp_path / 'there', 'there', seconds=2))
      time.sleep(0.5)
      lanes.retire_worker()
      assert psutil.pid_exists(worker.pid)  # busy: it finishes first
      here.result()
      there.result()
    assert not worker.ready() and wait_until_gone(worker.pid)
    lanes.run(*execution(tmp_path / 'after', 'after'))
  pids = {name: int((tmp_path / name / 'model' / 'pid').read_text().split()[0]) for name in ('there', 'after')}
  assert pids == {'there': worker.pid, 'after': os.getpid()}


def test_without_a_worker_executors_run_here_one_at_a_time_each_followed_by_releasing_memory(tmp_path, monkeypatch):
  released = []
  monkeypatch.setattr(process_tuning, 'release_memory', lambda: released.append(time.time()))
  lanes = ExecutorLanes(None)
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    runs = [pool.submit(lanes.run, *execution(tmp_path / name, name, seconds=1)) for name in ('first', 'second')]
    for run in runs:
      run.result()
  lanes.retire_worker()  # nothing to stop
  spans = []
  for name in ('first', 'second'):
    process, start, end, _ = (tmp_path / name / 'model' / 'pid').read_text().split()
    assert int(process) == os.getpid()
    spans.append((float(start), float(end)))
  (first_start, first_end), (second_start, second_end) = sorted(spans)
  assert first_end <= second_start  # one after the other
  assert len(released) == 2 and first_end <= released[0] <= second_start and second_end <= released[1]


class WriterSpec(component_spec.ComponentSpec):
  PARAMETERS = {'text': component_spec.ExecutionParameter(type=str)}
  INPUTS = {}
  OUTPUTS = {'model': component_spec.ChannelParameter(type=standard_artifacts.Model)}


class Writer(base_component.BaseComponent):
  """A component that runs conftest's PidWritingExecutor."""
  SPEC_CLASS = WriterSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(PidWritingExecutor)

  def __init__(self, text: str):
    super().__init__(spec=WriterSpec(text=text, model=channel.Channel(type=standard_artifacts.Model)))


def writer_and_resolver(root, text: str) -> tfx.dsl.Pipeline:
  """A writer, and a resolver of the latest model after it."""
  writer = Writer(text).with_id('writer')
  resolver = tfx.dsl.Resolver(strategy_class=tfx.dsl.experimental.LatestArtifactStrategy,
                              model=writer.outputs['model']).with_id('latest_model_resolver')
  return tfx.dsl.Pipeline(
      pipeline_name='p', pipeline_root=str(root / 'pipeline'), components=[writer, resolver], enable_cache=True,
      metadata_connection_config=metadata.sqlite_metadata_connection_config(str(root / 'metadata.db')))


def test_each_node_is_reported_as_it_starts_and_ends_with_the_state_ml_metadata_recorded(worker, tmp_path):
  reports = []

  def report(node_id, state, seconds):
    reports.append((node_id, state, seconds is not None and seconds >= 0))

  ConcurrentDagRunner(worker, 'run-1', report).run(writer_and_resolver(tmp_path, 'hello'))
  assert reports == [('writer', 'STARTED', False), ('writer', 'COMPLETE', True),
                     ('latest_model_resolver', 'COMPLETE', True)]  # a resolver: no executor, no start
  reports.clear()
  ConcurrentDagRunner(worker, 'run-2', report).run(writer_and_resolver(tmp_path, 'hello'))
  assert reports[:2] == [('writer', 'STARTED', False), ('writer', 'CACHED', True)]
  reports.clear()
  with pytest.raises(DataValidationError):
    ConcurrentDagRunner(worker, 'run-3', report).run(writer_and_resolver(tmp_path, 'fail'))
  assert reports == [('writer', 'STARTED', False), ('writer', 'FAILED', True)]
  config = metadata.sqlite_metadata_connection_config(str(tmp_path / 'metadata.db'))
  with metadata.Metadata(config) as m:
    assert {c.name for c in m.store.get_contexts_by_type('pipeline_run')} == {'run-1', 'run-2', 'run-3'}


def test_a_runner_told_it_is_the_last_user_of_the_worker_stops_it_once_nothing_can_run_side_by_side(tmp_path):
  with executor_worker.started(logging.WARNING) as worker:
    ConcurrentDagRunner(worker, 'run-1').run(writer_and_resolver(tmp_path, 'hello'))
    assert psutil.pid_exists(worker.pid)
    ConcurrentDagRunner(worker, 'run-2', retire_worker=True).run(writer_and_resolver(tmp_path, 'hello'))
    assert not worker.ready() and wait_until_gone(worker.pid)


def test_a_runner_without_a_worker_runs_independent_nodes_one_after_the_other_in_this_process(tmp_path):
  reports = []
  writers = [Writer(text).with_id(f'writer_{text}') for text in ('one', 'two')]
  pipeline = tfx.dsl.Pipeline(
      pipeline_name='p', pipeline_root=str(tmp_path / 'pipeline'), components=writers, enable_cache=False,
      metadata_connection_config=metadata.sqlite_metadata_connection_config(str(tmp_path / 'metadata.db')))
  ConcurrentDagRunner(None, 'run-1', lambda node_id, state, _: reports.append((node_id, state))).run(pipeline)
  first, second = reports[0][0], reports[2][0]
  assert {first, second} == {'writer_one', 'writer_two'}
  assert reports == [(first, 'STARTED'), (first, 'COMPLETE'), (second, 'STARTED'), (second, 'COMPLETE')]
  pids = {int(path.read_text().split()[0]) for path in (tmp_path / 'pipeline').glob('**/pid')}
  assert pids == {os.getpid()}
