"""The data gate: stops the run before training when ExampleValidator found anomalies against the curated schema.

ExampleValidator only writes anomalies (it never fails a run); this node reads them and fails.
"""

import os
from typing import List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from pipeline.gates.base import Anomaly, Gate, GateError, format_table


class DataValidationError(GateError):
  """The data gate found anomalies; the message is a table of them."""
  gate_name = 'data gate'


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


@component
def DataGate(anomalies: InputArtifact[standard_artifacts.ExampleAnomalies]) -> None:  # pylint: disable=invalid-name
  """Fails the run when ExampleValidator found anomalies in any split, so the Trainer never starts."""
  found = read_anomalies(anomalies.uri, artifact_utils.decode_split_names(anomalies.split_names))
  if found:
    raise DataValidationError(
        f'{len(found)} data anomalies against schema/schema.pbtxt; the run stops before training.\n'
        + format_table(found))


GATE = Gate(node_id='DataGate', error=DataValidationError, checks_key='anomalies', checks_type='ExampleAnomalies',
            required=True)
