"""Tables and charts of a run's evaluation and data statistics, shared by the HTML report and the notebooks.

Charts are matplotlib Figures built without pyplot, so they render headless, in notebooks and into the report.
"""
from __future__ import annotations

import io
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd
from matplotlib.figure import Figure
from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline.evaluation import metric_names

MetricsBySlice = Dict[Tuple[Tuple[str, str], ...], Dict[str, float]]

MAX_CHART_SLICES = 20
BAR_COLOUR, LINE_COLOUR = '#4a7ab5', '#c0504d'
FeatureType = statistics_pb2.FeatureNameStatistics.Type


def slice_columns(metrics: MetricsBySlice) -> List[str]:
  """The columns the evaluation sliced by."""
  return sorted({key[0][0] for key in metrics if len(key) == 1})


def metrics_table(metrics: MetricsBySlice, column: Optional[str] = None) -> pd.DataFrame:
  """The overall metrics (column None) or one row per value of a slice column, largest slices first."""
  if column is None:
    rows = {'overall': metrics.get((), {})}
  else:
    rows = {key[0][1]: values for key, values in metrics.items() if len(key) == 1 and key[0][0] == column}
  frame = pd.DataFrame.from_dict(rows, orient='index')
  frame = frame.reindex(columns=[m for m in metric_names.ALL if m in frame.columns])
  frame.index.name = column or 'slice'
  if metric_names.EXAMPLE_COUNT in frame.columns:
    frame[metric_names.EXAMPLE_COUNT] = frame[metric_names.EXAMPLE_COUNT].fillna(0).astype(int)
    frame = frame.sort_values(metric_names.EXAMPLE_COUNT, ascending=False, kind='stable')
  return frame


def overall_chart(metrics: MetricsBySlice) -> Figure:
  """Bars of the overall rates (AUC, accuracy, precision, recall) with their values."""
  overall = metrics.get((), {})
  names = [m for m in metric_names.RATES if m in overall]
  values = [0.0 if math.isnan(overall[m]) else overall[m] for m in names]
  figure = Figure(figsize=(5, 2.8))
  axes = figure.subplots()
  bars = axes.bar(names, values, color=BAR_COLOUR)
  axes.bar_label(bars, labels=[f'{overall[m]:.3f}' for m in names], fontsize=8)
  axes.set_ylim(0, 1.08)
  axes.set_title(f'Overall, {int(overall.get(metric_names.EXAMPLE_COUNT, 0))} eval examples', fontsize=10)
  axes.tick_params(labelsize=8)
  figure.tight_layout()
  return figure


def slice_chart(metrics: MetricsBySlice, column: str, metric: str = metric_names.AUC,
                max_slices: int = MAX_CHART_SLICES) -> Figure:
  """A metric per value of a slice column (the largest slices), against the overall value.

  Slices whose examples all have one label are marked: AUC means nothing there.
  """
  table = metrics_table(metrics, column).head(max_slices).iloc[::-1]
  values = table[metric] if metric in table.columns else pd.Series([math.nan] * len(table), index=table.index)
  figure = Figure(figsize=(6.5, 0.9 + 0.26 * max(len(table), 1)))
  axes = figure.subplots()
  bars = axes.barh([str(i) for i in table.index], values.fillna(0).to_numpy(), color=BAR_COLOUR)
  counts = table[metric_names.EXAMPLE_COUNT] if metric_names.EXAMPLE_COUNT in table.columns else [0] * len(table)
  one_class = (table[metric_names.MEAN_LABEL].isin([0.0, 1.0]) if metric_names.MEAN_LABEL in table.columns
               else [False] * len(table))
  labels = [('one class' if single else 'n/a' if math.isnan(v) else f'{v:.3f}') + f' (n={n})'
            for v, n, single in zip(values, counts, one_class)]
  axes.bar_label(bars, labels=labels, fontsize=7, padding=2)
  overall = metrics.get((), {}).get(metric)
  if overall is not None and not math.isnan(overall):
    axes.axvline(overall, color=LINE_COLOUR, linestyle='--', linewidth=1, label=f'overall {overall:.3f}')
    axes.legend(fontsize=7, loc='lower right')
  axes.set_xlim(0, 1.25)
  axes.set_title(f'{metric} by {column} (largest {len(table)} slices)', fontsize=10)
  axes.tick_params(labelsize=7)
  figure.tight_layout()
  return figure


def figure_png(figure: Figure) -> bytes:
  """A figure as PNG bytes."""
  buffer = io.BytesIO()
  figure.savefig(buffer, format='png', dpi=100)
  return buffer.getvalue()


def load_statistics(statistics_uri: str, split: str) -> statistics_pb2.DatasetFeatureStatistics:
  """One split's statistics from an ExampleStatistics artifact."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  path = os.path.join(statistics_uri, f'Split-{split}', 'FeatureStats.pb')
  return tfdv.load_stats_binary(path).datasets[0]


def feature_name(feature: statistics_pb2.FeatureNameStatistics) -> str:
  """A feature's name (its path, dotted)."""
  return '.'.join(feature.path.step) or feature.name


def statistics_table(dataset: statistics_pb2.DatasetFeatureStatistics) -> pd.DataFrame:
  """One row per feature: type, examples with a value, missing share and the numeric or categorical summary.

  An empty CSV cell is a present feature with no value to TFDV; here it counts as missing.
  """
  rows = {}
  for feature in dataset.features:
    kind = feature.WhichOneof('stats')
    stats = getattr(feature, kind) if kind else None
    common = stats.common_stats if stats is not None else statistics_pb2.CommonStatistics()
    present = common.tot_num_values if common.max_num_values <= 1 else common.num_non_missing
    total = dataset.num_examples or common.num_non_missing + common.num_missing
    row = {'type': FeatureType.Name(feature.type), 'count': present,
           'missing_%': 100.0 * (total - present) / total if total else 0.0}
    if kind == 'num_stats':
      zeros = 100.0 * stats.num_zeros / common.num_non_missing if common.num_non_missing else 0.0
      row.update({'mean': stats.mean, 'std': stats.std_dev, 'min': stats.min, 'max': stats.max, 'zeros_%': zeros})
    elif kind == 'string_stats':
      row.update({'unique': stats.unique, 'top': stats.top_values[0].value if stats.top_values else ''})
    rows[feature_name(feature)] = row
  frame = pd.DataFrame.from_dict(rows, orient='index')
  frame.index.name = 'feature'
  return frame.sort_index()


def compare_statistics(a: pd.DataFrame, b: pd.DataFrame, labels: Sequence[str] = ('a', 'b')) -> pd.DataFrame:
  """Two statistics tables side by side with the change of mean (%), missing share and distinct values."""
  la, lb = labels
  columns = [c for c in ('count', 'missing_%', 'mean', 'std', 'unique', 'top') if c in a.columns or c in b.columns]
  joined = a.reindex(columns=columns).join(b.reindex(columns=columns), how='outer', lsuffix=f' {la}',
                                            rsuffix=f' {lb}')
  if 'mean' in columns:
    mean_a, mean_b = joined[f'mean {la}'], joined[f'mean {lb}']
    joined['mean change_%'] = 100.0 * (mean_b - mean_a) / mean_a.abs().where(mean_a != 0)
  joined['missing change_pp'] = joined[f'missing_% {lb}'] - joined[f'missing_% {la}']
  return joined


def histogram_chart(datasets: Sequence[statistics_pb2.DatasetFeatureStatistics], feature: str,
                    labels: Sequence[str]) -> Figure:
  """A numeric feature's standard histogram in each dataset, as shares of its values, side by side."""
  figure = Figure(figsize=(6, 2.8))
  axes = figure.subplots()
  width = 0.8 / max(len(datasets), 1)
  for i, (dataset, label) in enumerate(zip(datasets, labels)):
    buckets = numeric_buckets(dataset, feature)
    total = sum(count for _, _, count in buckets) or 1
    axes.bar([j + i * width for j in range(len(buckets))], [count / total for _, _, count in buckets],
             width=width, label=label)
    axes.set_xticks(range(len(buckets)), [f'{low:.3g}' for low, _, _ in buckets], rotation=60, fontsize=6)
  axes.set_ylabel('share', fontsize=8)
  axes.set_title(f'{feature}: distribution (bucket lower bounds)', fontsize=10)
  axes.legend(fontsize=7)
  figure.tight_layout()
  return figure


def numeric_buckets(dataset: statistics_pb2.DatasetFeatureStatistics, feature: str) -> List[Tuple[float, float, float]]:
  """(low, high, count) of a numeric feature's standard histogram; [] when it has none."""
  for stats in dataset.features:
    if feature_name(stats) == feature and stats.WhichOneof('stats') == 'num_stats':
      for histogram in stats.num_stats.histograms:
        if histogram.type == statistics_pb2.Histogram.STANDARD:
          return [(b.low_value, b.high_value, b.sample_count) for b in histogram.buckets]
  return []
