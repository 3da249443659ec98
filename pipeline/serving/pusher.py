"""The Pusher's executor: publishes a blessed model so that a model server only ever serves complete versions.

On a local path a version is copied to <base>/.<version>.incomplete, verified, then renamed to <base>/<version> in
one atomic rename. On an object store (gs://, s3://: any scheme but file://) a directory rename is a copy and a
delete per object, so the version is copied to <base>/<version> under an empty marker <base>/.<version>.incomplete,
verified, and only then named in <base>/models.config, a TF Serving model config written as one object.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Any, Dict, List

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact, artifact_utils
from tfx.types.standard_component_specs import CUSTOM_CONFIG_KEY, PUSH_DESTINATION_KEY, PUSHED_MODEL_KEY
from tfx.utils import io_utils, json_utils, proto_utils

from pipeline import compat
from pipeline.config import PIPELINE_NAME

STAGING_SUFFIX = '.incomplete'
SERVING_CONFIG = 'models.config'  # object stores: the TF Serving ModelServerConfig naming the served version
MODEL_NAME_KEY = 'serving_model_name'  # in the Pusher's custom_config: the model's name in SERVING_CONFIG
SCHEME = re.compile(r'^([a-z0-9]+)://')  # how tfx.dsl.io tells a path's filesystem


def renames_atomically(path: str) -> bool:
  """Whether renaming a directory under path is atomic: yes on a local path, no on an object store (gs://, s3://)."""
  scheme = SCHEME.match(path)
  return not scheme or scheme.group(1) == 'file'


def free_version(base_directory: str, now: float) -> str:
  """A Unix-timestamp version name not yet used under base_directory."""
  version = int(now)
  while fileio.exists(os.path.join(base_directory, str(version))):
    version += 1
  return str(version)


def tree_digest(root: str) -> str:
  """sha256 over the relative paths and bytes of every file under root."""
  digest = hashlib.sha256()
  for directory, _, files in sorted(fileio.walk(root)):
    for name in sorted(files):
      path = os.path.join(directory, name)
      digest.update(os.path.relpath(path, root).encode())
      with fileio.open(path, 'rb') as f:
        digest.update(f.read())
  return digest.hexdigest()


def latest_version(base_directory: str) -> str:
  """The highest numeric version directory under base_directory, or ''."""
  if not fileio.exists(base_directory):
    return ''
  versions = [name.rstrip('/') for name in fileio.listdir(base_directory) if name.rstrip('/').isdigit()]
  return max(versions, key=int, default='')


def serving_config(base_directory: str, version: str, model_name: str) -> str:
  """A TF Serving ModelServerConfig, in text format, that serves exactly base_directory/version as model_name."""
  config = model_server_config_pb2.ModelServerConfig()
  model = config.model_config_list.config.add(name=model_name, base_path=base_directory.rstrip('/'),
                                              model_platform='tensorflow')
  model.model_version_policy.specific.versions.append(int(version))
  return text_format.MessageToString(config)


def configured_version(base_directory: str) -> str:
  """The version that base_directory's serving config names, or '' where there is no config."""
  path = os.path.join(base_directory, SERVING_CONFIG)
  if not fileio.exists(path):
    return ''
  with fileio.open(path, 'r') as f:
    config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
  versions = [v for model in config.model_config_list.config for v in model.model_version_policy.specific.versions]
  return str(max(versions)) if versions else ''


def served_version(base_directory: str) -> str:
  """The version a model server serves: the one the serving config names, else the highest version directory."""
  return configured_version(base_directory) or latest_version(base_directory)


def staged_version(name: str) -> str:
  """The version of a staging name '.<version>.incomplete' (a directory, or an object store's marker), or ''."""
  name = name.rstrip('/')
  version = name[1:-len(STAGING_SUFFIX)]
  return version if name.startswith('.') and name.endswith(STAGING_SUFFIX) and version.isdigit() else ''


def clear_staging(base_directory: str) -> None:
  """Removes what killed pushes left: staging directories, and each marked version that the config does not name."""
  served = configured_version(base_directory)
  for name in fileio.listdir(base_directory):
    version = staged_version(name)
    if not version:
      continue
    staging = os.path.join(base_directory, name.rstrip('/'))
    if fileio.isdir(staging):
      fileio.rmtree(staging)
      continue
    if version != served and fileio.exists(os.path.join(base_directory, version)):
      fileio.rmtree(os.path.join(base_directory, version))
    fileio.remove(staging)


def write_atomically(path: str, text: str) -> None:
  """Writes path whole or not at all: a temporary file, then one file renamed over path (one object's copy)."""
  temporary = os.path.join(os.path.dirname(path), f'.{os.path.basename(path)}.tmp')
  with fileio.open(temporary, 'w') as f:
    f.write(text)
  fileio.rename(temporary, path, overwrite=True)


def copy_verified(source: str, destination: str, digest: str) -> None:
  """Copies the directory source to destination, then checks that the copy's tree digest is digest."""
  io_utils.copy_dir(source, destination)
  copied = tree_digest(destination)
  if copied != digest:
    raise RuntimeError(f'the copy {destination} of {source} differs from it: tree digest {copied}, not {digest}')


def publish_atomically(model_path: str, base_directory: str, version: str, model_name: str, digest: str) -> str:
  """Publishes the SavedModel at model_path (tree digest digest) as base_directory/version; its path.

  Locally: a verified copy in .<version>.incomplete, renamed to <version>. On an object store: the marker
  .<version>.incomplete, a verified copy in <version>, that version named in the serving config, the marker
  removed. A push killed halfway leaves .<version>.incomplete (and on an object store the <version> it marks,
  which the config never named) until the next push removes them.
  """
  final = os.path.join(base_directory, version)
  staging = os.path.join(base_directory, f'.{version}{STAGING_SUFFIX}')
  if renames_atomically(base_directory):
    copy_verified(model_path, staging, digest)
    fileio.rename(staging, final)
    return final
  with fileio.open(staging, 'w') as f:
    f.write('')
  copy_verified(model_path, final, digest)
  write_atomically(os.path.join(base_directory, SERVING_CONFIG), serving_config(base_directory, version, model_name))
  fileio.remove(staging)
  return final


def push(model_path: str, base_directory: str, model_name: str, now: float) -> str:
  """Publishes the SavedModel at model_path under base_directory; the served version's path.

  A model identical to the served version (a rerun that re-evaluated an unchanged model against itself as the
  baseline) is served from that version instead of being copied again; on an object store the config names it.
  """
  fileio.makedirs(base_directory)
  clear_staging(base_directory)
  digest = tree_digest(model_path)
  version = served_version(base_directory)
  if not version or tree_digest(os.path.join(base_directory, version)) != digest:
    return publish_atomically(model_path, base_directory, free_version(base_directory, now), model_name, digest)
  if not renames_atomically(base_directory):
    write_atomically(os.path.join(base_directory, SERVING_CONFIG), serving_config(base_directory, version, model_name))
  return os.path.join(base_directory, version)


def serving_model_name(exec_properties: Dict[str, Any]) -> str:
  """The model's name in the serving config: custom_config's MODEL_NAME_KEY, else the pipeline's default name."""
  custom_config = json_utils.loads(exec_properties.get(CUSTOM_CONFIG_KEY) or 'null') or {}
  return custom_config.get(MODEL_NAME_KEY, PIPELINE_NAME)


class AtomicPusherExecutor(pusher_executor.Executor):
  """Pusher executor that publishes to a filesystem destination so that only complete versions are served.

  A blessed model identical to the served version is recorded as pushed to that version instead of being copied again.
  """

  def Do(self, input_dict: Dict[str, List[artifact.Artifact]], output_dict: Dict[str, List[artifact.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    pushed = artifact_utils.get_single_instance(output_dict[PUSHED_MODEL_KEY])
    if not self.CheckBlessing(input_dict):
      compat.mark_not_pushed(self, pushed)
      return
    destination = proto_utils.json_to_proto(exec_properties[PUSH_DESTINATION_KEY], pusher_pb2.PushDestination())
    model_path = self.GetModelPath(input_dict)
    serving_path = push(model_path, destination.filesystem.base_directory, serving_model_name(exec_properties),
                        time.time())
    io_utils.copy_dir(model_path, pushed.uri)
    compat.mark_pushed(self, pushed, serving_path, os.path.basename(serving_path))
