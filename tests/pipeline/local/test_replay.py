"""pipeline/local/replay.py: a rerun with nothing changed since a fully cached run is recorded as TFX records it,
without TensorFlow; anything that changed sends the run through TFX."""
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
from ml_metadata.proto import metadata_store_pb2

from conftest import E2E_TRAIN_STEPS, LOCAL_NODES, LOCAL_RESOLVERS, REPO_ROOT, latest_run
from pipeline import config as config_lib
from pipeline import metadata
from pipeline.local import replay

REPLAYED = replay.REPLAYED


def run_local(output_root: Path, data_root: Path, *flags: str) -> subprocess.CompletedProcess:
  """local_runner.py on the small sample with Python's import times on (they land in the run's log file)."""
  process = subprocess.run(
      [sys.executable, '-X', 'importtime', 'local_runner.py', '--data-root', str(data_root), '--output-root',
       str(output_root), '--train-steps', str(E2E_TRAIN_STEPS), *flags],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800, check=False)
  assert process.returncode == 0, process.stdout + process.stderr
  return process


def stderr_and_log(process: subprocess.CompletedProcess) -> str:
  """What the run wrote to standard error before its console pointed that at the log file, then the log file."""
  path = next(line.split(': ', 1)[1].split(' ')[0] for line in process.stdout.splitlines()
              if line.startswith('Library logs: '))
  return process.stderr + Path(path).read_text()


def loaded(log: str, module: str) -> bool:
  """Whether -X importtime's lines in a log show module imported."""
  return any(line.startswith('import time:') and line.split('|')[-1].strip() == module for line in log.splitlines())


def run_records(db: Path) -> Tuple[List[tuple], List[int], List[str]]:
  """The newest run's executions (type, state, properties, contexts, events), the artifacts attributed to it and its
  parent contexts, without ids, names and times; an event's path as its (key, index) pairs in order of key (TFX
  writes one artifact taken under two keys in either order)."""
  store = metadata.open_store(sqlite(db))
  run = max((c for c in store.get_contexts() if c.type == 'pipeline_run'), key=lambda c: c.id)
  executions = []
  for execution in store.get_executions_by_context(run.id):
    contexts = sorted((c.type, 'this run' if c.id == run.id else c.name) for c in store.get_contexts_by_execution(
        execution.id))
    events = sorted((e.type, e.artifact_id, tuple(sorted(zip(*[iter(step_values(e))] * 2))))
                    for e in store.get_events_by_execution_ids([execution.id]))
    properties = sorted((k, str(v)) for k, v in list(execution.properties.items()) +
                        list(execution.custom_properties.items()))
    executions.append((execution.type, execution.last_known_state, properties, contexts, events))
  parents = sorted(p.name for p in store.get_parent_contexts_by_context(run.id))
  return sorted(executions), sorted(a.id for a in store.get_artifacts_by_context(run.id)), parents


def step_values(event: metadata_store_pb2.Event) -> List[object]:
  return [step.key if step.HasField('key') else step.index for step in event.path.steps]


def sqlite(db: Path) -> metadata_store_pb2.ConnectionConfig:
  return metadata.sqlite_metadata(str(db))


@pytest.fixture(scope='module')
def cached_root(tmp_path_factory, small_data_root) -> Tuple[Path, List[subprocess.CompletedProcess]]:
  """An output root after a cold run, which leaves the record: TFX resolves each resolver's inputs again to what it
  resolved in the run (the drift gate is not given the statistics of the data it checks, the baseline is not the
  model just trained)."""
  root = tmp_path_factory.mktemp('replay') / 'out'
  runs = [run_local(root, small_data_root)]
  return root, runs


def test_a_run_leaves_a_record_only_when_its_resolvers_would_resolve_the_same_again(cached_root, small_data_root,
                                                                                    tmp_path):
  root, runs = cached_root
  assert REPLAYED not in runs[0].stdout
  assert (root / replay.RECORD_DIR / replay.RECORD_FILE).exists()
  assert {c.state for c in latest_run(root).components} == {'COMPLETE'}  # every node ran

  warm = tmp_path / 'out'  # a first --warm-start run starts from nothing; its resolver of the newest blessed model
  warm_run = run_local(warm, small_data_root, '--warm-start')  # then finds this run's model: a next run trains again
  assert 'Blessing: BLESSED' in warm_run.stdout
  assert not (warm / replay.RECORD_DIR / replay.RECORD_FILE).exists()


def test_a_replayed_run_is_recorded_as_tfx_records_it_without_loading_tensorflow(cached_root, small_data_root,
                                                                                 tmp_path):
  root, runs = cached_root
  db = root / 'metadata.db'
  before = tmp_path / 'before.db'
  shutil.copy(db, before)
  replayed = run_local(root, small_data_root)
  assert REPLAYED in replayed.stdout, replayed.stdout
  log = stderr_and_log(replayed)
  assert loaded(log, 'ml_metadata') and not loaded(log, 'tensorflow') and not loaded(log, 'tfx'), log[-2000:]
  summary = latest_run(root)
  assert {c.node_id for c in summary.components} == LOCAL_NODES
  assert {c.node_id for c in summary.components if c.state != 'CACHED'} == LOCAL_RESOLVERS
  evaluation = summary.component('Evaluator').outputs['evaluation'][0]
  assert evaluation.id == latest_run_before(before).component('Evaluator').outputs['evaluation'][0].id
  assert f'Run {summary.run_id}' in replayed.stdout
  assert summary.run_id in (root / 'report.html').read_text()
  shown = [line for line in runs[-1].stdout.splitlines() if line.startswith(('Evaluation', '  worst', 'Blessing',
                                                                             'Pushed model', 'Data anomalies'))]
  assert len(shown) >= 5 and all(line in replayed.stdout.splitlines() for line in shown), shown

  replayed_db = tmp_path / 'replayed.db'
  shutil.copy(db, replayed_db)
  shutil.copy(before, db)
  through_tfx = run_local(root, small_data_root, '--no-replay')
  assert REPLAYED not in through_tfx.stdout
  assert loaded(stderr_and_log(through_tfx), 'tensorflow')
  assert run_records(replayed_db) == run_records(db)

  shutil.copy(replayed_db, db)  # TFX's cache works on from the replayed run's records
  after = run_local(root, small_data_root, '--no-replay')
  assert REPLAYED not in after.stdout
  assert {c.node_id for c in latest_run(root).components if c.state != 'CACHED'} == LOCAL_RESOLVERS


def latest_run_before(db: Path):
  """The summary of the newest run in a copy of a store (its artifacts' files are where the run left them)."""
  from pipeline.reporting import run_summary  # pylint: disable=g-import-not-at-top
  store = metadata.open_store(sqlite(db))
  return run_summary.summarize_run(store, metadata.latest_run_context(store, config_lib.PIPELINE_NAME))


def test_a_change_anywhere_sends_the_run_through_tfx(cached_root, small_data_root, tmp_path):
  root, _ = cached_root
  config = config_lib.local_config(data_root=str(small_data_root), output_root=str(root),
                                   train_steps=E2E_TRAIN_STEPS, enable_cache=True, beam_workers=1)
  run_local(root, small_data_root)  # replayed or through TFX: either way it leaves a record
  assert replay.recorded_run(config, str(root)) is not None

  assert replay.recorded_run(dataclasses.replace(config, train_steps=E2E_TRAIN_STEPS + 1), str(root)) is None
  assert replay.recorded_run(dataclasses.replace(config, enable_cache=False), str(root)) is None

  data_file = next(small_data_root.iterdir())
  stat = data_file.stat()
  os.utime(data_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
  try:
    assert replay.recorded_run(config, str(root)) is None
  finally:
    os.utime(data_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
  assert replay.recorded_run(config, str(root)) is not None

  evaluation = latest_run(root).component('Evaluator').outputs['evaluation'][0].uri
  moved = tmp_path / 'evaluation'
  shutil.move(evaluation, moved)
  try:
    assert replay.recorded_run(config, str(root)) is None
  finally:
    shutil.move(moved, evaluation)

  db = root / 'metadata.db'
  shutil.copy(db, tmp_path / 'kept.db')
  store = metadata.open_store(sqlite(db))
  store.put_contexts([metadata.Context(type_id=store.get_context_type('pipeline').id, name='another-pipeline')])
  assert replay.recorded_run(config, str(root)) is None
  shutil.copy(tmp_path / 'kept.db', db)
  assert replay.recorded_run(config, str(root)) is not None


def test_the_fingerprint_covers_code_and_input_files(tmp_path):
  code = tmp_path / 'code'
  (code / 'models').mkdir(parents=True)
  (code / 'models' / 'model.py').write_text('layers = 1\n')
  (code / 'models' / '__pycache__').mkdir()
  data = tmp_path / 'data'
  data.mkdir()
  (data / 'data.csv').write_text('a\n1\n')
  config = config_lib.PipelineConfig(data_root=str(data), pipeline_root='p', serving_model_dir='s')
  first = replay.fingerprint(config, code)
  assert replay.fingerprint(config, code) == first
  (code / 'models' / '__pycache__' / 'model.cpython-310.pyc').write_bytes(b'compiled')
  assert replay.fingerprint(config, code) == first
  (code / 'models' / 'model.py').write_text('layers = 2\n')
  assert replay.fingerprint(config, code) != first
  second = replay.fingerprint(config, code)
  (data / 'more.csv').write_text('a\n2\n')
  assert replay.fingerprint(config, code) != second
  assert replay.fingerprint(dataclasses.replace(config, train_steps=1), code) != replay.fingerprint(config, code)
