"""Shared fixtures: small slices of the shipped taxi sample and one end-to-end run shared by several tests.

The tests mirror the modules they test: tests/pipeline/gates/test_drift.py tests pipeline/gates/drift.py, and so on;
the tests at this level run local_runner.py and kubeflow_runner.py as users do.
"""
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List

from models import keras_choice

keras_choice.use_tf_keras()  # before TensorFlow is imported

import pytest
import tensorflow as tf
from tfx.dsl.components.base import base_executor
from tfx.orchestration.portable import data_types
from tfx.proto.orchestration import executable_spec_pb2
from tfx.types import standard_artifacts

from benchmarks import generate
from pipeline import config as config_lib
from pipeline.gates.data import DataValidationError
from pipeline.local import executor_worker

REPO_ROOT = Path(__file__).resolve().parents[1]
E2E_ROWS = 3000
E2E_TRAIN_STEPS = 300
EXPECTED_NODES = {'CsvExampleGen', 'StatisticsGen', 'CuratedSchemaGen', 'ExampleValidator', 'DataGate',
                  'Transform', 'Trainer', 'Evaluator', 'Pusher'}  # everywhere, besides a resolver of the baseline
DRIFT_NODES = {'served_data_statistics_resolver', 'DriftGate'}  # local runs only
LOCAL_RESOLVERS = {'baseline_model_resolver', 'latest_hyperparameters_resolver', 'served_data_statistics_resolver'}
LOCAL_NODES = EXPECTED_NODES | DRIFT_NODES | LOCAL_RESOLVERS


def taxi_rows():
  """The shipped sample as a header and a list of rows."""
  return generate.read_csv(generate.sample_path())


def write_csv(path: Path, header, rows) -> Path:
  """Writes rows under a header and returns the file's directory."""
  return generate.write_table(path, header, rows).parent


def run_local(*args: str) -> subprocess.CompletedProcess:
  """`python local_runner.py ARGS` from the repository root, as a user runs it."""
  return subprocess.run([sys.executable, 'local_runner.py', *args], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=1800, check=False)


@pytest.fixture(scope='session')
def small_data_root(tmp_path_factory) -> Path:
  """The first E2E_ROWS rows of the shipped sample."""
  header, rows = taxi_rows()
  return write_csv(tmp_path_factory.mktemp('small') / 'data' / 'data.csv', header, rows[:E2E_ROWS])


@pytest.fixture(scope='session')
def e2e_run(tmp_path_factory, small_data_root):
  """One completed run of local_runner.py on the small sample: (output root, finished process)."""
  output_root = tmp_path_factory.mktemp('e2e')
  process = run_local('--data-root', str(small_data_root), '--output-root', str(output_root),
                      '--train-steps', str(E2E_TRAIN_STEPS))
  assert process.returncode == 0, process.stdout + process.stderr
  return output_root, process


@pytest.fixture(scope='module')
def served_root(tmp_path_factory, e2e_run) -> Path:
  """A copy, for one test module, of the end-to-end run's output root with its pushed model."""
  copy = tmp_path_factory.mktemp('served') / 'out'
  shutil.copytree(e2e_run[0], copy)
  return copy


def pushed_model_dir(output_root: Path) -> Path:
  """The newest version directory under <output-root>/serving_model/."""
  versions = sorted((output_root / 'serving_model').iterdir(), key=lambda p: int(p.name))
  assert versions, f'nothing was pushed under {output_root}'
  return versions[-1]


class PidWritingExecutor(base_executor.BaseExecutor):
  """Writes its process id, a text and its start and end times into its output artifact; fails on 'fail'."""

  def Do(self, input_dict, output_dict, exec_properties):
    started = time.time()
    if exec_properties['text'] == 'fail':
      raise DataValidationError('the gate stopped it')
    time.sleep(exec_properties.get('seconds', 0))
    model = output_dict['model'][0]
    os.makedirs(model.uri, exist_ok=True)
    with open(os.path.join(model.uri, 'pid'), 'w') as f:
      f.write(f'{os.getpid()} {started} {time.time()} {exec_properties["text"]}')
    model.set_string_custom_property('text', exec_properties['text'])


def execution(directory: Path, text: str, seconds: float = 0):
  """The executor spec and execution info of one PidWritingExecutor run writing under directory."""
  model = standard_artifacts.Model()
  model.uri = str(directory / 'model')
  spec = executable_spec_pb2.PythonClassExecutableSpec(class_path='conftest.PidWritingExecutor')
  info = data_types.ExecutionInfo(execution_id=1, input_dict={}, output_dict={'model': [model]},
                                  exec_properties={'text': text, 'seconds': seconds},
                                  tmp_dir=str(directory / 'tmp') + '/',
                                  execution_output_uri=str(directory / 'executor_output.pb'))
  return spec, info


def wait_until_ready(worker: executor_worker.ExecutorWorker, seconds: float = 180) -> None:
  """Waits for an executor worker to load its libraries; fails after that many seconds."""
  deadline = time.monotonic() + seconds
  while not worker.ready():
    assert time.monotonic() < deadline, 'the worker did not load its libraries in time'
    time.sleep(0.2)


@pytest.fixture(scope='module')
def worker():
  """An executor worker that has loaded its libraries."""
  with executor_worker.started(logging.WARNING) as started:
    wait_until_ready(started)
    yield started


def eval_split(output_root: Path) -> List[bytes]:
  """The serialized examples of the eval split that a run under output_root wrote."""
  files = tf.io.gfile.glob(f'{output_root}/pipeline/CsvExampleGen/examples/*/Split-eval/*')
  return list(tf.data.TFRecordDataset(files, compression_type='GZIP').as_numpy_iterator())


def latest_run(output_root: Path):
  """The summary of the newest run recorded in <output_root>/metadata.db."""
  from pipeline import metadata  # pylint: disable=g-import-not-at-top
  from pipeline.reporting import run_summary  # pylint: disable=g-import-not-at-top
  config = config_lib.local_config(data_root=str(output_root), output_root=str(output_root), train_steps=1,
                                   enable_cache=True, beam_workers=1)
  return run_summary.summarize_latest_run(metadata.open_store(config.metadata_connection_config), config)


def tree_digest(root: Path) -> str:
  """sha256 over the relative paths and bytes of every file under root ('' when root does not exist)."""
  import hashlib  # pylint: disable=g-import-not-at-top
  digest = hashlib.sha256()
  for path in sorted(p for p in root.rglob('*') if p.is_file()) if root.exists() else []:
    digest.update(str(path.relative_to(root)).encode())
    digest.update(path.read_bytes())
  return digest.hexdigest() if root.exists() else ''
