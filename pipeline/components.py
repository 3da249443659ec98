"""The two components this project adds to the standard TFX ones."""

import dataclasses
import os
from typing import List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, channel, component_spec, standard_artifacts
from tfx.types.standard_component_specs import ImportSchemaGenSpec


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
  """Fails the run when ExampleValidator found anomalies in any split, so Transform never starts."""
  found = read_anomalies(anomalies.uri, artifact_utils.decode_split_names(anomalies.split_names))
  if found:
    raise DataValidationError(
        f'{len(found)} data anomalies against schema/schema.pbtxt; the run stops before Transform.\n'
        + format_table(found))
