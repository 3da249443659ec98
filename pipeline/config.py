"""The one configuration both runners build, and the local defaults."""
from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from ml_metadata.proto import metadata_store_pb2

from pipeline.ingest.spans import CSV_PATTERN, csv_files, estimated_rows, input_pattern
from pipeline.metadata import metadata_config

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO_ROOT / 'schema' / 'schema.pbtxt'
SETUP_FILE = REPO_ROOT / 'setup.py'
PIPELINE_NAME = 'taxi-big-tipper'
DEFAULT_OUTPUT_ROOT = 'outputs'
METADATA_FILE = 'metadata.db'
PREDICTIONS_DIR = 'predictions'  # <output-root>/predictions/<run id>/predictions.csv
DEFAULT_TRAINER_MACHINE = 'n1-standard-4'  # CPU replicas of a multi-worker Trainer without --machine-type.
SPLIT_BUCKETS = (4, 1)  # ExampleGen's train and eval hash buckets: a fifth of the rows for evaluation,
MAX_EVAL_ROWS = 10_000  # up to about this many. Evaluation time grows with its rows; its precision barely does.
DEFAULT_TUNER_TRIALS = 4
DEFAULT_TUNER_SECONDS = 480
DEFAULT_SERVING_MACHINE = 'n1-standard-2'  # each replica of a Vertex AI endpoint's deployed model.


@dataclasses.dataclass(frozen=True)
class TrainerHardware:
  """Where the Trainer trains: in the pipeline's own container by default, or as a Vertex AI custom job.

  Any accelerator, machine type or more than one replica asks for the custom job: workerpool0 is the chief,
  workerpool1 holds the other replicas (Vertex sets TF_CONFIG for them), all on the same machine spec and image.
  """
  accelerator_type: str = ''  # a Vertex AI accelerator name: NVIDIA_TESLA_T4, NVIDIA_L4, TPU_V3, ...
  accelerator_count: int = 1
  machine_type: str = ''
  replicas: int = 1
  project: str = ''
  region: str = ''
  image: str = ''

  def __post_init__(self):
    problems = hardware_problems(self)
    if problems:
      raise ValueError('; '.join(problems))

  @property
  def custom_job(self) -> bool:
    """Whether the Trainer runs as a Vertex AI custom job."""
    return bool(self.accelerator_type or self.machine_type or self.replicas > 1)

  @property
  def tpu(self) -> bool:
    """Whether the accelerator is a TPU."""
    return self.accelerator_type.startswith('TPU_')

  def worker_pool_specs(self, replicas: Optional[int] = None) -> List[Dict[str, object]]:
    """The CustomJob worker pools: the chief, then the other replicas when there are any (replicas: that many
    instead of the Trainer's, as the Tuner's parallel trials take)."""
    machine: Dict[str, object] = {'machine_type': self.machine_type or DEFAULT_TRAINER_MACHINE}
    if self.accelerator_type:
      machine.update(accelerator_type=self.accelerator_type, accelerator_count=self.accelerator_count)
    replicas = self.replicas if replicas is None else replicas
    counts = [1] + ([replicas - 1] if replicas > 1 else [])
    return [{'machine_spec': dict(machine), 'replica_count': count, 'container_spec': {'image_uri': self.image}}
            for count in counts]


def hardware_problems(hardware: TrainerHardware) -> List[str]:
  """What is missing or contradictory in a trainer hardware request, as messages naming the flag to fix."""
  problems = []
  if hardware.replicas < 1:
    problems.append(f'--trainer-replicas must be at least 1, not {hardware.replicas}')
  if hardware.accelerator_type and hardware.accelerator_count < 1:
    problems.append(f'--accelerator-count must be at least 1, not {hardware.accelerator_count}')
  if hardware.accelerator_type and not hardware.machine_type:
    problems.append(f'--accelerator {hardware.accelerator_type} needs --machine-type: a machine type that takes '
                    'it, for example n1-standard-8 (T4, V100), g2-standard-8 (L4), a2-highgpu-1g (A100), '
                    'cloud-tpu (TPU_V2, TPU_V3), ct5lp-hightpu-4t (TPU_V5_LITEPOD)')
  if hardware.tpu and hardware.replicas > 1:
    problems.append('a TPU trainer runs on one host: --trainer-replicas must be 1 with a TPU accelerator')
  if hardware.custom_job:
    missing = [flag for flag, value in (('--project', hardware.project), ('--region', hardware.region),
                                        ('--image', hardware.image)) if not value]
    if missing:
      problems.append(f'a Vertex AI training job needs {", ".join(missing)}')
  return problems


@dataclasses.dataclass(frozen=True)
class ServingEndpoint:
  """Where the vertex target's Pusher deploys a blessed model: without a name, nowhere but the pipeline root's
  serving_model/; with one, the Vertex AI Model Registry and the online endpoint of that display name (created when
  missing), on min_replicas to max_replicas machines of machine_type, all traffic to the new model."""
  name: str = ''
  machine_type: str = DEFAULT_SERVING_MACHINE
  min_replicas: int = 1
  max_replicas: int = 1
  project: str = ''
  region: str = ''
  image: str = ''  # the serving container: a Vertex AI prebuilt TensorFlow prediction image.

  def __post_init__(self):
    problems = endpoint_problems(self)
    if problems:
      raise ValueError('; '.join(problems))

  def serving_args(self) -> Dict[str, object]:
    """The Vertex Pusher's serving args: the endpoint, and the machines that TFX passes to the SDK's Model.deploy."""
    return {'project_id': self.project, 'endpoint_name': self.name, 'machine_type': self.machine_type,
            'min_replica_count': self.min_replicas, 'max_replica_count': self.max_replicas}


def endpoint_problems(endpoint: ServingEndpoint) -> List[str]:
  """What is missing or contradictory in a serving endpoint request, as messages naming the flag to fix."""
  if not endpoint.name:
    changed = (endpoint.machine_type, endpoint.min_replicas, endpoint.max_replicas) != (DEFAULT_SERVING_MACHINE, 1, 1)
    return ['--serving-machine-type, --min-replicas and --max-replicas need --endpoint-name'] if changed else []
  problems = []
  if endpoint.min_replicas < 1:
    problems.append(f'--min-replicas must be at least 1, not {endpoint.min_replicas}')
  if endpoint.max_replicas < endpoint.min_replicas:
    problems.append(f'--max-replicas {endpoint.max_replicas} is less than --min-replicas {endpoint.min_replicas}')
  missing = [flag for flag, value in (('--project', endpoint.project), ('--region', endpoint.region),
                                      ('--serving-image', endpoint.image)) if not value]
  if missing:
    problems.append(f'a Vertex AI endpoint needs {", ".join(missing)}')
  return problems


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """Everything create_pipeline needs; the runners fill it in for where they run."""
  data_root: str
  pipeline_root: str
  serving_model_dir: str
  metadata_connection_config: Optional[metadata_store_pb2.ConnectionConfig] = None
  pipeline_name: str = PIPELINE_NAME
  schema_file: str = str(SCHEMA_FILE)
  train_steps: int = 400  # about 5 epochs of the shipped sample's train split; more overfits it.
  eval_steps: int = 50
  hparams: Mapping[str, object] = dataclasses.field(default_factory=dict)
  beam_pipeline_args: Tuple[str, ...] = ()
  enable_cache: bool = True
  auc_floor: float = 0.9
  compare_to_baseline: bool = True
  baseline_excludes_candidate: bool = False  # a cached rerun's model is not its own baseline (local runs).
  check_drift: bool = False  # compare with the served model's data (needs ML Metadata access: local runs).
  accept_drift: bool = False  # record drift beyond the schema's thresholds instead of stopping.
  input_pattern: str = CSV_PATTERN  # SPAN_PATTERN when the data root holds span-N/ folders.
  split_buckets: Tuple[int, int] = SPLIT_BUCKETS  # train and eval hash buckets; see split_buckets().
  window: int = 1  # train on the newest N gated spans (needs ML Metadata access: local runs).
  warm_start: bool = False  # start training from the weights of the last blessed model.
  backfill_span: Optional[int] = None  # only ingest and gate this span (for a window's older spans).
  # With a metadata store other output roots share: the directory a baseline model or the served model behind the
  # drift reference must lie under, so that another root's push never becomes this one's. '': the store is ours.
  references_under: str = ''
  trainer_hardware: TrainerHardware = dataclasses.field(default_factory=TrainerHardware)
  tune: bool = False  # search the hyperparameters (Tuner) and train with the best.
  tuner_trials: int = DEFAULT_TUNER_TRIALS
  tuner_seconds: int = DEFAULT_TUNER_SECONDS  # no trial starts after this many seconds of search (0: no limit).
  # tuner_parallel trials at once: with TFX's Vertex AI Tuner each on a replica of a custom job on trainer_hardware's
  # machine spec (compiled vertex target); else each in a process of its own where the Tuner runs.
  tuner_on_vertex: bool = False
  tuner_parallel: int = 1
  # Without tune: train with the newest tuned hyperparameters in ML Metadata (local runs), else models/' defaults.
  resolve_hyperparameters: bool = False
  serving_endpoint: ServingEndpoint = dataclasses.field(default_factory=ServingEndpoint)
  # Batch inference: the CSV files (serving columns) BulkInferrer scores after the Pusher ('': none), and where
  # <run id>/predictions.csv goes. With fallback_to_pushed_model (local runs: a resolver reads ML Metadata) a run
  # whose model was not blessed scores with the currently pushed model; else it scores nothing.
  inference_data_root: str = ''
  predictions_root: str = ''
  fallback_to_pushed_model: bool = False


def shipped_taxi_data() -> str:
  """The directory of the Chicago taxi sample CSV that ships inside the installed tfx package."""
  import tfx  # pylint: disable=g-import-not-at-top
  return os.path.join(os.path.dirname(tfx.__file__), 'examples', 'chicago_taxi_pipeline', 'data', 'simple')


def direct_runner_args(workers: int) -> Tuple[str, ...]:
  """Beam DirectRunner arguments for a number of local worker processes (1: in the runner's process).

  --setup_file names this project as the Beam dependency, so TFX does not build an sdist for every component.
  """
  if workers <= 1:
    return ()
  return ('--direct_running_mode=multi_processing', f'--direct_num_workers={workers}',
          f'--setup_file={SETUP_FILE}')


def split_buckets(rows: int) -> Tuple[int, int]:
  """Train and eval hash buckets giving the eval split a fifth of the rows, capped near MAX_EVAL_ROWS."""
  train, eval_ = SPLIT_BUCKETS
  total = max(train + eval_, -(-rows // MAX_EVAL_ROWS))
  return total - eval_, eval_


def local_config(data_root: str, output_root: str, train_steps: int, enable_cache: bool,
                 beam_workers: int, metadata_uri: Optional[str] = None, accept_drift: bool = False,
                 window: int = 1, warm_start: bool = False, pipeline_name: str = PIPELINE_NAME, tune: bool = False,
                 tuner_trials: int = DEFAULT_TUNER_TRIALS,
                 tuner_seconds: int = DEFAULT_TUNER_SECONDS, tuner_parallel: int = 1,
                 inference_data_root: str = '') -> PipelineConfig:
  """The configuration of a local run whose outputs all live under output_root.

  Metadata goes to <output_root>/metadata.db unless metadata_uri names another store (see metadata_config); in
  another store, the baseline and the drift reference are only taken from this output root's own artifacts, and
  pipeline_name keeps its runs, cache and lineage apart from other roots'.
  A data root holding span-N/ folders is read span by span, the latest each run. The eval split's share comes
  from the latest span's size (split_buckets). Without tune, the Trainer takes the newest tuned hyperparameters
  of this pipeline (of this output root's, on a shared store) from ML Metadata. With inference_data_root, its CSV
  files are scored into <output_root>/predictions/<run id>/.
  """
  output_root = os.path.abspath(output_root)
  own_store = os.path.join(output_root, METADATA_FILE)
  shared_store = bool(metadata_uri) and os.path.abspath(metadata_uri) != own_store
  return PipelineConfig(
      pipeline_name=pipeline_name,
      data_root=os.path.abspath(data_root),
      pipeline_root=os.path.join(output_root, 'pipeline'),
      serving_model_dir=os.path.join(output_root, 'serving_model'),
      metadata_connection_config=metadata_config(metadata_uri or own_store),
      train_steps=train_steps,
      enable_cache=enable_cache,
      beam_pipeline_args=direct_runner_args(beam_workers),
      baseline_excludes_candidate=True,
      check_drift=True,
      accept_drift=accept_drift,
      input_pattern=input_pattern(data_root),
      split_buckets=split_buckets(estimated_rows(csv_files(data_root))),
      window=window,
      warm_start=warm_start,
      tune=tune,
      tuner_trials=tuner_trials,
      tuner_seconds=tuner_seconds,
      tuner_parallel=tuner_parallel,
      resolve_hyperparameters=True,
      inference_data_root=os.path.abspath(inference_data_root) if inference_data_root else '',
      predictions_root=os.path.join(output_root, PREDICTIONS_DIR),
      fallback_to_pushed_model=True,
      references_under=os.path.join(output_root, 'pipeline') if shared_store else '')


def source_digest(paths: Iterable[Path]) -> str:
  """sha256 over the names and contents of files and of the .py files under directories.

  Part of component parameters so that the TFX cache notices edits to code and to the curated schema.
  """
  digest = hashlib.sha256()
  files = []
  for path in paths:
    files.extend(sorted(path.rglob('*.py')) if path.is_dir() else [path])
  for file in files:
    digest.update(str(file.relative_to(REPO_ROOT)).encode())
    digest.update(file.read_bytes())
  return digest.hexdigest()
