"""What this project adds to the standard TFX components: the curated schema import, the data gate and an
atomic Pusher executor."""

import dataclasses
import hashlib
import os
import time
from typing import Any, Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.pusher import executor as pusher_executor
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact, artifact_utils, channel, component_spec, standard_artifacts
from tfx.types.standard_component_specs import PUSH_DESTINATION_KEY, PUSHED_MODEL_KEY, ImportSchemaGenSpec
from tfx.utils import io_utils, proto_utils

STAGING_SUFFIX = '.incomplete'


class CuratedSchemaSpec(ImportSchemaGenSpec):
  """ImportSchemaGen's spec plus the schema file's digest, which thereby enters the cache key."""
  PARAMETERS = {**ImportSchemaGenSpec.PARAMETERS,
                'schema_sha256': component_spec.ExecutionParameter(type=str)}


class CuratedSchemaGen(ImportSchemaGen):
  """ImportSchemaGen that re-imports when the curated schema's content changes, not only its path."""
  SPEC_CLASS = CuratedSchemaSpec

  def __init__(self, schema_file: str, schema_sha256: str):  # pylint: disable=super-init-not-called
    spec = CuratedSchemaSpec(schema_file=schema_file, schema_sha256=schema_sha256,
                             schema=channel.Channel(type=standard_artifacts.Schema))
    super(ImportSchemaGen, self).__init__(spec=spec)  # pylint: disable=bad-super-call


class DataValidationError(RuntimeError):
  """The data gate found anomalies; the message is a table of them."""


@dataclasses.dataclass(frozen=True)
class Anomaly:
  """One row of the gate's table."""
  split: str
  feature: str
  anomaly: str
  description: str


def read_anomalies(uri: str, split_names: List[str]) -> List[Anomaly]:
  """The anomalies ExampleValidator wrote under an ExampleAnomalies artifact URI."""
  found = []
  for split in split_names:
    proto = anomalies_pb2.Anomalies()
    with open(os.path.join(uri, f'Split-{split}', 'SchemaDiff.pb'), 'rb') as f:
      proto.ParseFromString(f.read())
    for feature_name, info in sorted(proto.anomaly_info.items()):
      found.append(Anomaly(split, feature_name, info.short_description, info.description))
    if proto.HasField('dataset_anomaly_info'):
      info = proto.dataset_anomaly_info
      found.append(Anomaly(split, '(dataset)', info.short_description, info.description))
  return found


def format_table(anomalies: List[Anomaly]) -> str:
  """A plain-text table with one line per anomaly."""
  header = Anomaly('split', 'feature', 'anomaly', 'description')
  rows = [header] + anomalies
  widths = [max(len(getattr(r, f.name)) for r in rows) for f in dataclasses.fields(Anomaly)][:3]
  lines = []
  for row in rows:
    cells = [row.split.ljust(widths[0]), row.feature.ljust(widths[1]), row.anomaly.ljust(widths[2]),
             row.description]
    lines.append('  '.join(cells))
  return '\n'.join(lines)


@component
def DataGate(anomalies: InputArtifact[standard_artifacts.ExampleAnomalies]) -> None:  # pylint: disable=invalid-name
  """Fails the run when ExampleValidator found anomalies in any split, so the Trainer never starts."""
  found = read_anomalies(anomalies.uri, artifact_utils.decode_split_names(anomalies.split_names))
  if found:
    raise DataValidationError(
        f'{len(found)} data anomalies against schema/schema.pbtxt; the run stops before training.\n'
        + format_table(found))


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
      self._MarkNotPushed(pushed)
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
    self._MarkPushed(pushed, pushed_destination=serving_path, pushed_version=version)
