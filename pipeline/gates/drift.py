"""Drift of new data against the data behind the currently served model, as a gate before training.

The comparators and their thresholds are in schema/schema.pbtxt (drift_comparator: L-infinity distance for
categorical features, Jensen-Shannon divergence for numeric ones). TFDV evaluates them only when it is given the
previous statistics, which ExampleValidator never does; ServedDataStatistics finds them through ML Metadata.
"""
import copy
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.common.resolver import ResolverStrategy
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from pipeline import metadata
from pipeline.gates.base import Anomaly, Gate, GateError, format_table

SPLIT = 'train'
DRIFT_REASONS = ('COMPARATOR_L_INFTY_HIGH', 'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH')


class DataDriftError(GateError):
  """The new data drifted beyond the schema's thresholds from the data behind the served model."""
  gate_name = 'drift gate'


def served_data_statistics_id(store: metadata.Store, pipeline_name: str = '', pushed_under: str = '') -> Optional[int]:
  """The ExampleStatistics of the raw examples behind the pipeline's newest pushed model, or None.

  A model trained on a window of spans has several; the newest span's statistics stand for them. pushed_under:
  only a model pushed by a run of that pipeline root counts (a metadata store other output roots share).
  """
  for pushed_model in metadata.pushed_models(store, pipeline_name, pushed_under):  # [] before the first push.
    for model in metadata.producer_inputs(store, pushed_model.id, 'model'):
      for trained_on in reversed(metadata.producer_inputs(store, model, 'examples')):
        # Models of earlier versions of this project were trained on Transform's output: one step further back.
        for examples in [trained_on] + list(reversed(metadata.producer_inputs(store, trained_on, 'examples'))):
          statistics = metadata.made_by_users(store, examples, 'ExampleStatistics')
          if statistics:
            return statistics[-1]
  return None


class ServedDataStatistics(ResolverStrategy):
  """Resolves `statistics`: those of the data that trained the pipeline's served model, unless they are this run's
  own (`current`), and nothing before a push.

  Data compared with itself cannot drift; and a rerun whose StatisticsGen came from the cache thereby gives the drift
  gate the inputs the run that pushed gave it, so the gate comes from the cache too (and pipeline/local/replay.py can
  record the rerun without TFX).
  """

  def __init__(self, pipeline_name: str = '', pushed_under: str = ''):
    self._pipeline_name = pipeline_name
    self._pushed_under = pushed_under

  def resolve_artifacts(self, store: metadata.Store,
                        input_dict: Dict[str, List[types.Artifact]]) -> Optional[Dict[str, List[types.Artifact]]]:
    wanted = served_data_statistics_id(store, self._pipeline_name, self._pushed_under)
    if wanted in {a.id for a in input_dict['current']}:
      wanted = None
    return {'statistics': [a for a in input_dict['statistics'] if a.id == wanted],
            'current': input_dict['current']}  # TFX needs every key.


def feature_stats(stats: statistics_pb2.DatasetFeatureStatistics,
                  feature: str) -> Optional[statistics_pb2.FeatureNameStatistics]:
  """One feature's statistics, or None."""
  return next((f for f in stats.features if f.path.step and f.path.step[0] == feature), None)


def quantile_edges(stats: statistics_pb2.DatasetFeatureStatistics, feature: str) -> List[float]:
  """The boundaries of a numeric feature's equal-count (quantiles) histogram: min, deciles, max."""
  f = feature_stats(stats, feature)
  histograms = [h for h in f.num_stats.histograms if h.type == statistics_pb2.Histogram.QUANTILES] if f else []
  if not histograms or not histograms[0].buckets:
    return []
  buckets = histograms[0].buckets
  return [b.low_value for b in buckets] + [buckets[-1].high_value]


def describe_distribution(stats: statistics_pb2.DatasetFeatureStatistics, feature: str) -> str:
  """A one-line view of a feature's distribution: top values, or mean and quantiles."""
  f = feature_stats(stats, feature)
  if f is not None and f.HasField('string_stats'):
    total = sum(b.sample_count for b in f.string_stats.rank_histogram.buckets) or 1
    top = f.string_stats.rank_histogram.buckets[:4]
    return ', '.join(f'{b.label} {100 * b.sample_count / total:.1f} %' for b in top)
  if f is not None and f.HasField('num_stats'):
    n = f.num_stats
    edges = quantile_edges(stats, feature)
    median = f' median {edges[len(edges) // 2]:.3g}' if edges else ''
    return f'mean {n.mean:.3g}, std {n.std_dev:.3g},{median} min {n.min:.3g} max {n.max:.3g}'
  return '(absent)'


def cdf(edges: Sequence[float], x: float) -> float:
  """The share of values at most x, interpolated from quantile boundaries (equal shares between them)."""
  if x < edges[0]:
    return 0.0
  if x >= edges[-1]:
    return 1.0
  i = int(np.searchsorted(edges, x, side='right'))  # edges[i - 1] <= x < edges[i]
  share = 1.0 / (len(edges) - 1)
  return share * (i - 1 + (x - edges[i - 1]) / (edges[i] - edges[i - 1]))


def quantile_divergence(served_edges: Sequence[float], new_edges: Sequence[float]) -> float:
  """Jensen-Shannon divergence (base 2, 0 to 1) of two numeric distributions over the served data's quantiles.

  TFDV's own comparator uses equal-width histograms, where one outlier fare of 700 puts nearly every trip in
  the first bucket: it scores two samples of the same data above four-fold fares. Equal-count buckets do not.
  """
  cuts = sorted(set(served_edges))[1:-1]
  served = np.diff([0.0] + [cdf(served_edges, c) for c in cuts] + [1.0])
  new = np.diff([0.0] + [cdf(new_edges, c) for c in cuts] + [1.0])
  middle = (served + new) / 2

  def kl(p: np.ndarray) -> float:
    kept = p > 0
    return float(np.sum(p[kept] * np.log2(p[kept] / middle[kept])))

  return (kl(served) + kl(new)) / 2


def numeric_divergence_anomalies(current: statistics_pb2.DatasetFeatureStatistics,
                                 previous: statistics_pb2.DatasetFeatureStatistics,
                                 thresholds: Dict[str, float]) -> List[Anomaly]:
  """Numeric features whose quantile Jensen-Shannon divergence exceeds the schema's threshold."""
  found = []
  for feature, threshold in sorted(thresholds.items()):
    served, new = quantile_edges(previous, feature), quantile_edges(current, feature)
    if len(served) < 2 or len(new) < 2:
      continue
    divergence = quantile_divergence(served, new)
    if divergence > threshold:
      found.append(Anomaly(SPLIT, feature, 'Drift', (
          f'The Jensen-Shannon divergence over the served data\'s deciles is {divergence:.3f}, above the threshold '
          f'{threshold}. Served data: {describe_distribution(previous, feature)}. '
          f'New data: {describe_distribution(current, feature)}.')))
  return found


def drift_anomalies(current: statistics_pb2.DatasetFeatureStatisticsList,
                    previous: statistics_pb2.DatasetFeatureStatisticsList, schema) -> List[Anomaly]:
  """Drift beyond the schema's comparators, one row per feature, with both distributions described.

  TFDV evaluates the L-infinity comparators; Jensen-Shannon comparators of numeric features are evaluated over
  quantiles here (see quantile_divergence), with the schema's thresholds.
  """
  schema = copy.deepcopy(schema)
  thresholds = {}
  for f in schema.feature:
    if f.drift_comparator.HasField('jensen_shannon_divergence'):
      thresholds[f.name] = f.drift_comparator.jensen_shannon_divergence.threshold
      f.drift_comparator.ClearField('jensen_shannon_divergence')
  anomalies = tfdv.validate_statistics(current, schema, previous_statistics=previous)
  found = numeric_divergence_anomalies(current.datasets[0], previous.datasets[0], thresholds)
  for feature, info in sorted(anomalies.anomaly_info.items()):
    if not any(anomalies_pb2.AnomalyInfo.Type.Name(r.type) in DRIFT_REASONS for r in info.reason):
      continue
    now = describe_distribution(current.datasets[0], feature)
    before = describe_distribution(previous.datasets[0], feature)
    found.append(Anomaly(SPLIT, feature, 'Drift',
                         f'{info.description.rstrip(".")}. Served data: {before}. New data: {now}.'))
  return sorted(found, key=lambda a: a.feature)


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
        'schema/schema.pbtxt; the run stops before training (rerun with --accept-drift to train on it anyway).\n'
        + format_table(found))


GATE = Gate(node_id='DriftGate', error=DataDriftError, checks_key='statistics', checks_type='ExampleStatistics',
            required=False)
