"""The one configuration both runners build, and the local defaults."""
from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Iterable, Mapping, Optional, Tuple

from ml_metadata.proto import metadata_store_pb2

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO_ROOT / 'schema' / 'schema.pbtxt'
SETUP_FILE = REPO_ROOT / 'setup.py'
PIPELINE_NAME = 'taxi-big-tipper'
DEFAULT_OUTPUT_ROOT = 'outputs'


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


def shipped_taxi_data() -> str:
  """The directory of the Chicago taxi sample CSV that ships inside the installed tfx package."""
  import tfx  # pylint: disable=g-import-not-at-top
  return os.path.join(os.path.dirname(tfx.__file__), 'examples', 'chicago_taxi_pipeline', 'data', 'simple')


def sqlite_metadata(path: str) -> metadata_store_pb2.ConnectionConfig:
  """An MLMD connection to a SQLite file, created if missing."""
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
  return config


def direct_runner_args(workers: int) -> Tuple[str, ...]:
  """Beam DirectRunner arguments for a number of local worker processes (1: in the runner's process).

  --setup_file names this project as the Beam dependency, so TFX does not build an sdist for every component.
  """
  if workers <= 1:
    return ()
  return ('--direct_running_mode=multi_processing', f'--direct_num_workers={workers}',
          f'--setup_file={SETUP_FILE}')


def local_config(data_root: str, output_root: str, train_steps: int, enable_cache: bool,
                 beam_workers: int) -> PipelineConfig:
  """The configuration of a local run whose outputs all live under output_root."""
  output_root = os.path.abspath(output_root)
  return PipelineConfig(
      data_root=os.path.abspath(data_root),
      pipeline_root=os.path.join(output_root, 'pipeline'),
      serving_model_dir=os.path.join(output_root, 'serving_model'),
      metadata_connection_config=sqlite_metadata(os.path.join(output_root, 'metadata.db')),
      train_steps=train_steps,
      enable_cache=enable_cache,
      beam_pipeline_args=direct_runner_args(beam_workers))


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
