"""The Trainer's distribution strategy: chosen from the hardware it finds, with the batch scaled to the replicas.

Strategies that configure the TensorFlow runtime run in fresh processes (the runtime of this one is shared by
every test in the session).
"""
import json
import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Tuple

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from models import distribution
from models.contract import PREDICTION_KEY, SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from models.distribution import Hardware, Kind
from models.model import HParams
from preprocessing.features import LABEL_KEY

TWO_CPU_TRAINING = textwrap.dedent('''
    import json
    from models import keras_choice; keras_choice.use_tf_keras()
    import absl.logging
    import tensorflow as tf
    from test_model import cardinalities, synthetic_batch
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from models import distribution
    from models.model import HParams, build_model
    absl.logging.set_verbosity(absl.logging.INFO)
    strategy = distribution.select()
    hparams = distribution.scale_batch(HParams(hidden_units=(16,), batch_size=32), strategy)
    with strategy.scope():
      model = build_model(cardinalities(), hparams)
    x, y = synthetic_batch(512)
    data = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(hparams.batch_size)
    history = model.fit(data, steps_per_epoch=4, epochs=1, verbose=0)
    print(json.dumps({
        'strategy': type(strategy).__name__, 'replicas': strategy.num_replicas_in_sync,
        'batch_size': hparams.batch_size, 'loss': history.history['loss'],
        'mirrored_weights': all(type(v).__name__ == 'MirroredVariable' for v in model.trainable_variables),
        'devices': list(strategy.extended.worker_devices)}))
''')

CONSTRUCT_FROM_TF_CONFIG = textwrap.dedent('''
    import json
    from models import keras_choice; keras_choice.use_tf_keras()
    import tensorflow as tf
    from models import distribution
    strategy = distribution.select()
    print(json.dumps({'multi_worker': isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
                      'replicas': strategy.num_replicas_in_sync}))
''')


RUN_FN = textwrap.dedent('''
    import json, sys
    from models import keras_choice; keras_choice.use_tf_keras()
    import absl.logging
    import tensorflow as tf
    from tfx.components.trainer import fn_args_utils
    from tfx.types import artifact_utils, standard_artifacts
    examples_uri, transform_uri, out, steps, logical_cpus = sys.argv[1:6]
    if int(logical_cpus) > 1:
      cpu = tf.config.list_physical_devices('CPU')[0]
      tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(logical_cpus))
    from models import trainer
    absl.logging.set_verbosity(absl.logging.INFO)
    examples = standard_artifacts.Examples()
    examples.uri, examples.split_names = examples_uri, artifact_utils.encode_split_names(['train', 'eval'])
    graph = standard_artifacts.TransformGraph()
    graph.uri = transform_uri
    fn_args = fn_args_utils.get_common_fn_args(
        {'examples': [examples], 'transform_graph': [graph]},
        {'train_args': json.dumps({'num_steps': int(steps)}), 'eval_args': json.dumps({'num_steps': 5})},
        working_dir=out + '/tmp')
    fn_args.serving_model_dir, fn_args.model_run_dir = out + '/model/Format-Serving', out + '/model_run'
    fn_args.custom_config, fn_args.base_model = {}, None
    trainer.run_fn(fn_args)
    print(json.dumps({'done': True}))
''')
RUN_FN_STEPS = 150


def run_python(code: str, tf_config: Optional[dict] = None, args: Tuple[str, ...] = (),
               tmp_dir: Optional[Path] = None) -> subprocess.Popen:
  """Starts `python -c code ARGS` with the project and the tests importable, and TF_CONFIG only when given."""
  env = {k: v for k, v in os.environ.items() if k != 'TF_CONFIG'}
  env['PYTHONPATH'] = f'{REPO_ROOT}{os.pathsep}{REPO_ROOT / "tests" / "models"}'
  if tf_config:
    env['TF_CONFIG'] = json.dumps(tf_config)
  if tmp_dir:
    env['TMPDIR'] = str(tmp_dir)
  return subprocess.Popen([sys.executable, '-c', code, *args], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def result(process: subprocess.Popen, timeout: int = 300) -> Tuple[dict, str]:
  """The JSON line a script printed last, and its stderr; fails with the stderr when it did not succeed."""
  try:
    stdout, stderr = process.communicate(timeout=timeout)
  finally:
    if process.poll() is None:
      process.kill()
  assert process.returncode == 0, stderr[-3000:]
  return json.loads(stdout.strip().splitlines()[-1]), stderr


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@pytest.mark.parametrize('hardware, kind', [
    (Hardware(tpu=False, local_devices=1, workers=1), Kind.DEFAULT),
    (Hardware(tpu=False, local_devices=4, workers=1), Kind.MIRRORED),
    (Hardware(tpu=False, local_devices=1, workers=3), Kind.MULTI_WORKER),
    (Hardware(tpu=False, local_devices=2, workers=2), Kind.MULTI_WORKER),
    (Hardware(tpu=True, local_devices=1, workers=1), Kind.TPU),
])
def test_the_strategy_follows_the_hardware(hardware, kind):
  assert distribution.choose(hardware) == kind


def test_tf_config_counts_the_chief_and_the_workers():
  assert distribution.cluster_workers({}) == 1
  vertex = {'cluster': {'chief': ['a:1'], 'worker': ['b:1', 'c:1']}, 'task': {'type': 'worker', 'index': 0}}
  assert distribution.cluster_workers(vertex) == 3
  assert not distribution.is_chief(vertex)
  assert distribution.is_chief({**vertex, 'task': {'type': 'chief', 'index': 0}})
  chiefless = {'cluster': {'worker': ['a:1', 'b:1']}, 'task': {'type': 'worker', 'index': 0}}
  assert distribution.is_chief(chiefless)
  assert not distribution.is_chief({**chiefless, 'task': {'type': 'worker', 'index': 1}})
  assert distribution.is_chief({})


def test_detection_without_a_tpu_or_cluster_is_one_local_device():
  hardware = distribution.detect({})
  assert hardware == Hardware(tpu=False, local_devices=hardware.local_devices, workers=1)
  assert hardware.local_devices >= 1
  assert distribution.detect({'TPU_NAME': 'my-tpu'}).tpu


def test_the_batch_scales_with_the_replicas():
  hparams = HParams(batch_size=128)
  assert distribution.scale_batch(hparams, SimpleNamespace(num_replicas_in_sync=4)).batch_size == 512
  assert distribution.scale_batch(hparams, SimpleNamespace(num_replicas_in_sync=1)) == hparams


def test_multi_worker_training_shards_the_data_by_element():
  dataset = distribution.shard_by_data(tf.data.Dataset.range(3))
  assert dataset.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
  assert list(dataset.as_numpy_iterator()) == [0, 1, 2]


def test_only_the_chief_writes_to_the_real_directories(tmp_path):
  worker = {'TF_CONFIG': json.dumps({'cluster': {'chief': ['a:1'], 'worker': ['b:1']},
                                     'task': {'type': 'worker', 'index': 0}})}
  assert distribution.worker_dir(str(tmp_path), {}) == str(tmp_path)
  scratch = distribution.worker_dir(str(tmp_path), worker)
  assert scratch != str(tmp_path) and os.path.isdir(scratch)


def test_workers_wait_for_the_chiefs_model(tmp_path):
  with pytest.raises(RuntimeError, match='wrote no model'):
    distribution.await_export(str(tmp_path), timeout_s=0.2, poll_s=0.05)
  (tmp_path / 'saved_model.pb').write_bytes(b'')
  distribution.await_export(str(tmp_path), timeout_s=0.2, poll_s=0.05)


def test_two_logical_cpus_train_a_few_steps_under_mirrored_strategy():
  outcome, stderr = result(run_python(TWO_CPU_TRAINING))
  assert outcome['strategy'] == 'MirroredStrategy' and outcome['replicas'] == 2
  assert [d.split('/')[-1] for d in outcome['devices']] == ['device:CPU:0', 'device:CPU:1']
  assert outcome['batch_size'] == 64
  assert outcome['mirrored_weights']
  assert all(math.isfinite(loss) for loss in outcome['loss'])
  assert 'Distribution: MirroredStrategy, 2 replica(s) in sync' in stderr


def test_tf_config_with_two_workers_constructs_multi_worker_mirrored_strategy():
  cluster = {'worker': [f'localhost:{free_port()}', f'localhost:{free_port()}']}
  workers = [run_python(CONSTRUCT_FROM_TF_CONFIG, {'cluster': cluster, 'task': {'type': 'worker', 'index': i}})
             for i in range(2)]
  try:
    outcomes = [result(worker, timeout=240)[0] for worker in workers]
  finally:
    for worker in workers:
      if worker.poll() is None:
        worker.kill()
  assert outcomes == [{'multi_worker': True, 'replicas': 2}] * 2


@pytest.fixture(scope='module')
def trained_inputs(e2e_run):
  """(examples, transform graph) directories of the end-to-end run, for run_fn."""
  pipeline_root = e2e_run[0] / 'pipeline'
  [examples] = (pipeline_root / 'CsvExampleGen' / 'examples').iterdir()
  [graph] = (pipeline_root / 'Transform' / 'transform_graph').iterdir()
  return str(examples), str(graph)


def run_fn_process(inputs, out: Path, logical_cpus: int = 1, tf_config: Optional[dict] = None,
                   tmp_dir: Optional[Path] = None) -> subprocess.Popen:
  """The project's run_fn in a fresh process on the end-to-end run's examples and transform graph."""
  return run_python(RUN_FN, tf_config, (*inputs, str(out), str(RUN_FN_STEPS), str(logical_cpus)), tmp_dir)


def eval_auc(model_dir: Path, examples_dir: str) -> float:
  """The AUC of a SavedModel of run_fn on the eval split, labels from its own transform signature."""
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  model = tf.saved_model.load(str(model_dir))
  files = tf.io.gfile.glob(f'{examples_dir}/Split-eval/*')
  examples = tf.constant(list(tf.data.TFRecordDataset(files, compression_type='GZIP').as_numpy_iterator()))
  labels = model.signatures[TRANSFORM_SIGNATURE](examples=examples)[LABEL_KEY].numpy().ravel()
  scores = model.signatures[SERVING_SIGNATURE](examples=examples)[PREDICTION_KEY].numpy().ravel()
  return roc_auc_score(labels, scores)


def model_weights(model_dir: Path):
  """The variables a run_fn SavedModel holds, in order."""
  return [v.numpy() for v in tf.saved_model.load(str(model_dir)).model_variables]


def test_run_fn_trains_multi_worker_across_two_processes_as_vertex_sets_them_up(trained_inputs, tmp_path):
  cluster = {'chief': [f'localhost:{free_port()}'], 'worker': [f'localhost:{free_port()}']}
  shared = tmp_path / 'shared'  # on Vertex, every replica writes under the same job directory
  scratch = {role: tmp_path / f'tmp-{role}' for role in ('chief', 'worker')}
  replicas = []
  for role in ('chief', 'worker'):
    scratch[role].mkdir()
    tf_config = {'cluster': cluster, 'task': {'type': role, 'index': 0}, 'environment': 'cloud'}
    replicas.append(run_fn_process(trained_inputs, shared, tf_config=tf_config, tmp_dir=scratch[role]))
  single = run_fn_process(trained_inputs, tmp_path / 'single')
  try:
    logs = [result(process, timeout=900)[1] for process in replicas]
    result(single, timeout=900)
  finally:
    for process in replicas + [single]:
      if process.poll() is None:
        process.kill()
  assert all('Distribution: MultiWorkerMirroredStrategy, 2 replica(s) in sync' in log for log in logs)
  chief_model = shared / 'model' / 'Format-Serving'
  assert (chief_model / 'saved_model.pb').is_file() and (shared / 'model' / 'weights.npz').is_file()
  [worker_model] = [d for d in scratch['worker'].glob('non-chief-*') if (d / 'saved_model.pb').is_file()]
  assert not list(scratch['chief'].glob('non-chief-*'))  # the worker exported, but not over the chief's model
  for chief_weights, worker_weights in zip(model_weights(chief_model), model_weights(worker_model)):
    np.testing.assert_array_equal(chief_weights, worker_weights)  # synchronised: the same model on both
  multi, alone = eval_auc(chief_model, trained_inputs[0]), eval_auc(tmp_path / 'single' / 'model' / 'Format-Serving',
                                                                    trained_inputs[0])
  assert multi > 0.85 and abs(multi - alone) < 0.03, (multi, alone)


def test_run_fn_trains_under_mirrored_strategy_on_two_logical_cpus(trained_inputs, tmp_path):
  outcome, log = result(run_fn_process(trained_inputs, tmp_path / 'out', logical_cpus=2), timeout=900)
  assert outcome == {'done': True}
  assert 'Distribution: MirroredStrategy, 2 replica(s) in sync' in log
  assert eval_auc(tmp_path / 'out' / 'model' / 'Format-Serving', trained_inputs[0]) > 0.85
