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
from types import SimpleNamespace
from typing import Optional, Tuple

import pytest
import tensorflow as tf

from conftest import REPO_ROOT
from models import distribution
from models.distribution import Hardware, Kind
from models.model import HParams

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


def run_python(code: str, tf_config: Optional[dict] = None) -> subprocess.Popen:
  """Starts `python -c code` with the project and the tests importable, and TF_CONFIG only when given."""
  env = {k: v for k, v in os.environ.items() if k != 'TF_CONFIG'}
  env['PYTHONPATH'] = f'{REPO_ROOT}{os.pathsep}{REPO_ROOT / "tests" / "models"}'
  if tf_config:
    env['TF_CONFIG'] = json.dumps(tf_config)
  return subprocess.Popen([sys.executable, '-c', code], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
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
