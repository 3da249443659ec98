"""Drift of new data against the data behind the currently served model, as a gate before Transform.

The comparators and their thresholds are in schema/schema.pbtxt (drift_comparator: L-infinity distance for
categorical features, Jensen-Shannon divergence for numeric ones). TFDV evaluates them only when it is given the
previous statistics, which ExampleValidator never does; ServedDataStatistics finds them through ML Metadata.
"""
from typing import Dict, List, Optional

import ml_metadata as mlmd
import tensorflow_data_validation as tfdv
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from pipeline.components import Anomaly, format_table

Event = metadata_store_pb2.Event
SPLIT = 'train'
DRIFT_REASONS = ('COMPARATOR_L_INFTY_HIGH', 'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH')


class DataDriftError(RuntimeError):
  """The new data drifted beyond the schema's thresholds from the data behind the served model."""


def producer_inputs(store: mlmd.MetadataStore, artifact_id: int, key: str) -> List[int]:
  """Ids of the artifacts that the executions which produced an artifact took as input `key`."""
  executions = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])
                if e.type == Event.OUTPUT]
  return sorted({e.artifact_id for e in store.get_events_by_execution_ids(executions)
                 if e.type == Event.INPUT and e.path.steps and e.path.steps[0].key == key})


def consumer_outputs(store: mlmd.MetadataStore, artifact_id: int, type_name: str) -> List[int]:
  """Ids of artifacts of a type that executions consuming an artifact produced."""
  executions = [e.execution_id for e in store.get_events_by_artifact_ids([artifact_id]) if e.type == Event.INPUT]
  outputs = [e.artifact_id for e in store.get_events_by_execution_ids(executions) if e.type == Event.OUTPUT]
  return sorted(a.id for a in store.get_artifacts_by_id(outputs) if a.type == type_name)


def served_data_statistics_id(store: mlmd.MetadataStore) -> Optional[int]:
  """The ExampleStatistics of the raw examples behind the newest pushed model, or None."""
  pushed = [a for a in store.get_artifacts_by_type('PushedModel')  # [] before the first push.
            if a.custom_properties['pushed'].int_value == 1]
  for pushed_model in sorted(pushed, key=lambda a: a.id, reverse=True):
    for model in producer_inputs(store, pushed_model.id, 'model'):
      for transformed in producer_inputs(store, model, 'examples'):
        for examples in producer_inputs(store, transformed, 'examples'):
          statistics = consumer_outputs(store, examples, 'ExampleStatistics')
          if statistics:
            return statistics[-1]
  return None


class ServedDataStatistics(resolver.ResolverStrategy):
  """Resolves the statistics of the data that trained the currently served model (nothing before a push)."""

  def resolve_artifacts(self, store: mlmd.MetadataStore,
                        input_dict: Dict[str, List[types.Artifact]]) -> Optional[Dict[str, List[types.Artifact]]]:
    wanted = served_data_statistics_id(store)
    return {key: [a for a in artifacts if a.id == wanted] for key, artifacts in input_dict.items()}


def describe_distribution(stats: statistics_pb2.DatasetFeatureStatistics, feature: str) -> str:
  """A one-line view of a feature's distribution: top values, or mean and quantiles."""
  for f in stats.features:
    if f.path.step and f.path.step[0] == feature:
      if f.HasField('string_stats'):
        total = sum(b.sample_count for b in f.string_stats.rank_histogram.buckets) or 1
        top = f.string_stats.rank_histogram.buckets[:4]
        return ', '.join(f'{b.label} {100 * b.sample_count / total:.1f} %' for b in top)
      if f.HasField('num_stats'):
        n = f.num_stats
        quantiles = [b.high_value for b in n.histograms[-1].buckets] if n.histograms else []
        median = f' median {quantiles[len(quantiles) // 2 - 1]:.3g}' if quantiles else ''
        return f'mean {n.mean:.3g}, std {n.std_dev:.3g},{median} min {n.min:.3g} max {n.max:.3g}'
  return '(absent)'


def drift_anomalies(current: statistics_pb2.DatasetFeatureStatisticsList,
                    previous: statistics_pb2.DatasetFeatureStatisticsList, schema) -> List[Anomaly]:
  """Drift beyond the schema's comparators, one row per feature, with both distributions described."""
  anomalies = tfdv.validate_statistics(current, schema, previous_statistics=previous)
  found = []
  for feature, info in sorted(anomalies.anomaly_info.items()):
    if not any(anomalies_pb2.AnomalyInfo.Type.Name(r.type) in DRIFT_REASONS for r in info.reason):
      continue
    now = describe_distribution(current.datasets[0], feature)
    before = describe_distribution(previous.datasets[0], feature)
    found.append(Anomaly(SPLIT, feature, 'Drift', f'{info.description} Served data: {before}. New data: {now}.'))
  return found


@component
def DriftGate(statistics: InputArtifact[standard_artifacts.ExampleStatistics],  # pylint: disable=invalid-name
              schema: InputArtifact[standard_artifacts.Schema],
              accept_drift: Parameter[bool],
              served_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None) -> None:
  """Fails the run when the train split drifted from the served model's beyond the schema's thresholds.

  With accept_drift (recorded in ML Metadata as this execution's parameter) the drift is logged, not fatal.
  """
  if served_statistics is None:
    return
  schema_proto = tfdv.load_schema_text(io_utils.get_only_uri_in_dir(schema.uri))
  current = stats_artifact_utils.load_statistics(statistics, SPLIT).proto()
  previous = stats_artifact_utils.load_statistics(served_statistics, SPLIT).proto()
  found = drift_anomalies(current, previous, schema_proto)
  if found and not accept_drift:
    raise DataDriftError(
        f'{len(found)} features drifted from the data behind the served model beyond the thresholds in '
        'schema/schema.pbtxt; the run stops before Transform (rerun with --accept-drift to train on it anyway).\n'
        + format_table(found))
