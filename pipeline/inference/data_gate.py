"""The inference data gate: stops the run when the rows to score break the curated schema's SERVING environment.

The input check (pipeline/ingest/input_check.py, serving=True) has already read the CSV files as the serving columns
before anything ran; this gate checks what needs the whole data's statistics (domains, ranges, presence) with
TFDV, as the data gate checks training data, but in the SERVING environment, where the label source is absent. It
runs before the Trainer, so a run with bad inference data neither trains, pushes nor scores.
"""

import os
from typing import List

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from pipeline.gates.base import Anomaly, Gate, GateError, format_table
from pipeline.ingest.example_gen import input_files
from pipeline.ingest.input_check import Problem, file_schema_violations

SERVING_ENVIRONMENT = 'SERVING'  # schema/schema.pbtxt's environment without the label source.


class InferenceDataError(GateError):
  """The rows to score break the schema's SERVING environment; the message is a table of the anomalies."""
  gate_name = 'inference data gate'


def serving_anomalies(anomalies: anomalies_pb2.Anomalies, split: str) -> List[Anomaly]:
  """One row per anomaly TFDV found in a split, as the data gate shows them."""
  found = [Anomaly(split, name, info.short_description, info.description)
           for name, info in sorted(anomalies.anomaly_info.items())]
  if anomalies.HasField('dataset_anomaly_info'):
    info = anomalies.dataset_anomaly_info
    found.append(Anomaly(split, '(dataset)', info.short_description, info.description))
  return found


def offending_rows(files: List[str], schema, found: List[Anomaly]) -> List[Problem]:
  """The first offending row of each anomalous column in local CSV files (none for remote files)."""
  if not files or any('://' in path or not os.path.exists(path) for path in files):
    return []
  return file_schema_violations(files, schema, {a.feature for a in found})


def gate_message(found: List[Anomaly], rows: List[Problem]) -> str:
  """The error of the gate: the anomaly table, then the offending rows."""
  lines = [f'{len(found)} anomalies of the inference data against schema/schema.pbtxt (SERVING environment); '
           'nothing was scored.', format_table(found)]
  if rows:
    lines += ['Offending rows:'] + [f'  {row}' for row in rows]
  return '\n'.join(lines)


@component
def InferenceDataGate(statistics: InputArtifact[standard_artifacts.ExampleStatistics],  # pylint: disable=invalid-name
                      schema: InputArtifact[standard_artifacts.Schema],
                      examples: InputArtifact[standard_artifacts.Examples]) -> None:
  """Fails the run when the inference data's statistics break the schema in its SERVING environment."""
  schema_proto = tfdv.load_schema_text(io_utils.get_only_uri_in_dir(schema.uri))
  found = []
  for split in artifact_utils.decode_split_names(statistics.split_names):
    stats = stats_artifact_utils.load_statistics(statistics, split).proto()
    found += serving_anomalies(tfdv.validate_statistics(stats, schema_proto, environment=SERVING_ENVIRONMENT), split)
  if found:
    raise InferenceDataError(gate_message(found, offending_rows(input_files(examples), schema_proto, found)))


GATE = Gate(node_id='InferenceDataGate', error=InferenceDataError, checks_key='statistics',
            checks_type='ExampleStatistics', required=False)
