"""The tf.distribute strategy for the hardware the Trainer finds itself on, and what multi-worker training needs.

TPUStrategy when a TPU is attached, MultiWorkerMirroredStrategy when TF_CONFIG names several workers (Vertex AI
sets it for every replica of a multi-replica custom job), MirroredStrategy over one machine's devices when it has
several (GPUs, or else logically split CPUs), the default strategy otherwise.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import os
import tempfile
import time
from typing import List, Mapping

import absl.logging
import tensorflow as tf

from models.model import HParams

CHIEF_TYPES = ('chief', 'master')


class Kind(enum.Enum):
  """The strategies run_fn chooses from."""
  TPU = 'TPUStrategy'
  MULTI_WORKER = 'MultiWorkerMirroredStrategy'
  MIRRORED = 'MirroredStrategy'
  DEFAULT = 'default strategy'


@dataclasses.dataclass(frozen=True)
class Hardware:
  """What the Trainer process can see: an attached TPU, its local devices, the workers of its cluster."""
  tpu: bool
  local_devices: int  # GPUs, or CPUs when there is no GPU.
  workers: int


def tf_config(environ: Mapping[str, str]) -> dict:
  """The parsed TF_CONFIG environment variable ({} when unset)."""
  return json.loads(environ.get('TF_CONFIG') or '{}')


def cluster_workers(config: dict) -> int:
  """Number of training workers (the chief included) a TF_CONFIG cluster names; 1 without a cluster."""
  cluster = config.get('cluster', {})
  return sum(len(cluster.get(role, [])) for role in CHIEF_TYPES + ('worker',)) or 1


def is_chief(config: dict) -> bool:
  """Whether this process is the one that writes outputs: alone, the chief, or worker 0 of a chief-less cluster."""
  task, cluster = config.get('task', {}), config.get('cluster', {})
  if not task or task.get('type') in CHIEF_TYPES:
    return True
  return task.get('type') == 'worker' and task.get('index', 0) == 0 and not any(r in cluster for r in CHIEF_TYPES)


def choose(hardware: Hardware) -> Kind:
  """The strategy for some hardware."""
  if hardware.tpu:
    return Kind.TPU
  if hardware.workers > 1:
    return Kind.MULTI_WORKER
  if hardware.local_devices > 1:
    return Kind.MIRRORED
  return Kind.DEFAULT


def configured_devices(device_type: str) -> int:
  """Devices of a type once logical splits are counted, without initializing the TensorFlow runtime.

  MultiWorkerMirroredStrategy must configure the runtime itself, so nothing here may start it.
  """
  return sum(len(tf.config.get_logical_device_configuration(device) or [device])
             for device in tf.config.list_physical_devices(device_type))


def detect(environ: Mapping[str, str] = os.environ) -> Hardware:
  """The hardware of this process: TPU (attached, or named by TPU_NAME), GPUs or CPUs, TF_CONFIG workers."""
  return Hardware(tpu=bool(environ.get('TPU_NAME') or tf.config.list_physical_devices('TPU')),
                  local_devices=configured_devices('GPU') or configured_devices('CPU'),
                  workers=cluster_workers(tf_config(environ)))


def local_device_names() -> List[str]:
  """The logical GPUs, or the logical CPUs when there is no GPU."""
  return [d.name for d in tf.config.list_logical_devices('GPU') or tf.config.list_logical_devices('CPU')]


def make(kind: Kind, environ: Mapping[str, str] = os.environ) -> tf.distribute.Strategy:
  """A strategy of a kind; TPUStrategy connects to the TPU named by TPU_NAME, or to the host's own TPU."""
  if kind == Kind.TPU:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=environ.get('TPU_NAME', 'local'))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  if kind == Kind.MULTI_WORKER:
    return tf.distribute.MultiWorkerMirroredStrategy()
  if kind == Kind.MIRRORED:
    return tf.distribute.MirroredStrategy(devices=local_device_names())
  return tf.distribute.get_strategy()


def select(environ: Mapping[str, str] = os.environ) -> tf.distribute.Strategy:
  """The strategy for this process's hardware, logged; call it before any other TensorFlow work."""
  hardware = detect(environ)
  kind = choose(hardware)
  strategy = make(kind, environ)
  absl.logging.info('Distribution: %s, %d replica(s) in sync (TPU attached: %s, local devices: %d, workers: %d)',
                    kind.value, strategy.num_replicas_in_sync, hardware.tpu, hardware.local_devices,
                    hardware.workers)
  return strategy


def scale_batch(hparams: HParams, strategy: tf.distribute.Strategy) -> HParams:
  """HParams whose batch_size is the global batch: the configured per-replica batch times the replicas."""
  return dataclasses.replace(hparams, batch_size=hparams.batch_size * strategy.num_replicas_in_sync)


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
  """A dataset that multi-worker training splits by element, not by file.

  Transform may write fewer files than there are workers, which file sharding refuses; every worker reads the
  same seeded shuffle, so element sharding gives each a distinct share. Single-worker training ignores it.
  """
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return dataset.with_options(options)


def worker_dir(path: str, environ: Mapping[str, str] = os.environ) -> str:
  """path for the chief; a scratch directory for other workers, which must write too but not over the chief."""
  return path if is_chief(tf_config(environ)) else tempfile.mkdtemp(prefix='non-chief-')


def await_export(serving_model_dir: str, timeout_s: float = 600, poll_s: float = 5) -> None:
  """Waits until the chief's SavedModel is complete; TFX checks that it exists when run_fn returns on any worker."""
  saved_model = os.path.join(serving_model_dir, tf.saved_model.SAVED_MODEL_FILENAME_PB)
  deadline = time.monotonic() + timeout_s
  while not tf.io.gfile.exists(saved_model):
    if time.monotonic() > deadline:
      raise RuntimeError(f'the chief wrote no model to {serving_model_dir} within {timeout_s:.0f} s')
    time.sleep(poll_s)
