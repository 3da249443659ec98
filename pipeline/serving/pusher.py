"""The Pusher's executor: publishes a blessed model to the serving directory by write-then-rename."""
from __future__ import annotations

import hashlib
import os
import time
from typing import Any, Dict, List

from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact, artifact_utils
from tfx.types.standard_component_specs import PUSH_DESTINATION_KEY, PUSHED_MODEL_KEY
from tfx.utils import io_utils, proto_utils

from pipeline import compat

STAGING_SUFFIX = '.incomplete'


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


def publish_atomically(model_path: str, base_directory: str, version: str) -> str:
  """Copies a SavedModel to base_directory/.version.incomplete, then renames it to base_directory/version.

  A model server polling base_directory only ever sees complete versions (dot-names are not versions), and a
  push killed halfway leaves only a staging directory, which the next push removes.
  """
  fileio.makedirs(base_directory)
  for name in fileio.listdir(base_directory):
    if name.startswith('.') and name.rstrip('/').endswith(STAGING_SUFFIX):
      fileio.rmtree(os.path.join(base_directory, name))
  staging = os.path.join(base_directory, f'.{version}{STAGING_SUFFIX}')
  final = os.path.join(base_directory, version)
  io_utils.copy_dir(model_path, staging)
  fileio.rename(staging, final)
  return final


class AtomicPusherExecutor(pusher_executor.Executor):
  """Pusher executor that publishes to a filesystem destination by write-then-rename.

  A blessed model identical to the newest served version (a rerun that re-evaluated an unchanged model against
  itself as the baseline) is recorded as pushed to that version instead of being copied again.
  """

  def Do(self, input_dict: Dict[str, List[artifact.Artifact]], output_dict: Dict[str, List[artifact.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    pushed = artifact_utils.get_single_instance(output_dict[PUSHED_MODEL_KEY])
    if not self.CheckBlessing(input_dict):
      compat.mark_not_pushed(self, pushed)
      return
    destination = proto_utils.json_to_proto(exec_properties[PUSH_DESTINATION_KEY], pusher_pb2.PushDestination())
    base = destination.filesystem.base_directory
    model_path = self.GetModelPath(input_dict)
    version = latest_version(base)
    if version and tree_digest(os.path.join(base, version)) == tree_digest(model_path):
      serving_path = os.path.join(base, version)  # this very model is already served: no duplicate version.
    else:
      version = free_version(base, time.time())
      serving_path = publish_atomically(model_path, base, version)
    io_utils.copy_dir(model_path, pushed.uri)
    compat.mark_pushed(self, pushed, serving_path, version)
