"""The concurrent runner: dependencies, two nodes at once, which failure is raised, where executors run."""
import concurrent.futures
import os
import threading
import time

import pytest

from conftest import execution
from pipeline.local.concurrent_runner import ExecutorLanes, run_in_dependency_order

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
