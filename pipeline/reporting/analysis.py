"""Tables and charts of a run's evaluation and data statistics, shared by the HTML report and the notebooks.

Charts are matplotlib Figures built without pyplot, so they render headless, in notebooks and into the report.
Numbers are shown as format_number writes them, in both.
"""
from __future__ import annotations

import io
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline.evaluation import metric_names
from pipeline.reporting import curves

MetricsBySlice = Dict[Tuple[Tuple[str, str], ...], Dict[str, float]]

MAX_CHART_SLICES = 20
BAR_COLOUR, LINE_COLOUR, NEGATIVE_COLOUR = '#4a7ab5', '#c0504d', '#9bbb59'
FeatureType = statistics_pb2.FeatureNameStatistics.Type
AUC_LOW, AUC_HIGH = 'auc_low', 'auc_high'  # the 95% interval of the AUC, beside it in the metrics tables
DECIMALS = 4
OPERATING_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CURVE_SIZE = (4.6, 3.6)


def format_number(value: object, decimals: int = DECIMALS) -> str:
  """A number as the report and the notebooks show it: integers as they are, floats with fixed decimals (never in
  scientific notation), NaN as n/a."""
  if isinstance(value, (float, np.floating)):
    return 'n/a' if math.isnan(value) else f'{value:.{decimals}f}'
  return str(value)


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
  if metric_names.AUC in frame.columns:
    intervals = [curves.auc_interval(values.get(metric_names.AUC, math.nan), *curves.class_counts(values))
                 for values in rows.values()]
    at = frame.columns.get_loc(metric_names.AUC) + 1
    frame.insert(at, AUC_LOW, [low for low, _ in intervals])
    frame.insert(at + 1, AUC_HIGH, [high for _, high in intervals])
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

  Slices whose examples all have one label are marked: AUC means nothing there. The AUC's whiskers are its 95%
  interval, wide where a slice is small.
  """
  table = metrics_table(metrics, column).head(max_slices).iloc[::-1]
  values = table[metric] if metric in table.columns else pd.Series([math.nan] * len(table), index=table.index)
  figure = Figure(figsize=(6.5, 0.9 + 0.26 * max(len(table), 1)))
  axes = figure.subplots()
  bar_ends = values.fillna(0).to_numpy()
  axes.barh([str(i) for i in table.index], bar_ends, color=BAR_COLOUR)
  label_at = bar_ends
  if metric == metric_names.AUC and AUC_LOW in table.columns:
    errors = interval_errors(values, table[AUC_LOW], table[AUC_HIGH])
    axes.errorbar(values.to_numpy(), np.arange(len(table)), xerr=errors, fmt='none', ecolor='#333333',
                  elinewidth=0.8, capsize=2)
    label_at = bar_ends + errors[1]
  counts = table[metric_names.EXAMPLE_COUNT] if metric_names.EXAMPLE_COUNT in table.columns else [0] * len(table)
  one_class = (table[metric_names.MEAN_LABEL].isin([0.0, 1.0]) if metric_names.MEAN_LABEL in table.columns
               else [False] * len(table))
  labels = [('one class' if single else 'n/a' if math.isnan(v) else f'{v:.3f}') + f' (n={n})'
            for v, n, single in zip(values, counts, one_class)]
  for y, (x, label) in enumerate(zip(label_at, labels)):
    axes.text(x + 0.01, y, label, va='center', fontsize=7)
  overall = metrics.get((), {}).get(metric)
  if overall is not None and not math.isnan(overall):
    axes.axvline(overall, color=LINE_COLOUR, linestyle='--', linewidth=1, label=f'overall {overall:.3f}')
    axes.legend(fontsize=7, loc='lower right')
  axes.set_xlim(0, 1.3)
  axes.set_title(f'{metric} by {column} (largest {len(table)} slices)', fontsize=10)
  axes.tick_params(labelsize=7)
  figure.tight_layout()
  return figure


def interval_errors(values: pd.Series, low: pd.Series, high: pd.Series) -> np.ndarray:
  """Whisker lengths below and above each value (0 where a value or its interval is undefined)."""
  return np.nan_to_num(np.vstack([values.to_numpy() - low.to_numpy(), high.to_numpy() - values.to_numpy()]))


def curve_axes(axes: Optional[Axes], title: str, xlabel: str, ylabel: str, unit: bool = True) -> Axes:
  """The axes to draw one curve on (a figure of its own when None), titled and labelled; unit: both in [0, 1]."""
  if axes is None:
    axes = Figure(figsize=CURVE_SIZE).subplots()
  if unit:
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
  axes.set_xlabel(xlabel, fontsize=8)
  axes.set_ylabel(ylabel, fontsize=8)
  axes.set_title(title, fontsize=10)
  axes.tick_params(labelsize=7)
  axes.grid(alpha=0.3)
  return axes


def finished(axes: Axes) -> Figure:
  """The figure of axes, laid out."""
  axes.figure.tight_layout()
  return axes.figure


def roc_chart(plots: curves.SlicePlots, auc: float = math.nan, title: str = 'ROC curve',
              axes: Optional[Axes] = None) -> Figure:
  """True against false positive rate at each threshold of the Evaluator's confusion matrices.

  The legend gives the exact AUC (the metric) and the area under the points drawn: scores closer together than
  the plot's thresholds share a point, so a straight segment joins them and that area can be lower.
  """
  axes = curve_axes(axes, title, 'false positive rate', 'true positive rate')
  false_rate, true_rate = curves.roc_points(plots.matrices)
  area = curves.curve_area(false_rate, true_rate)
  axes.plot(false_rate, true_rate, color=BAR_COLOUR, marker='.', markersize=3, linewidth=1.5,
            label=f'model: AUC {format_number(auc)}\narea under these points {format_number(area)}')
  axes.plot([0, 1], [0, 1], color='#999999', linestyle=':', linewidth=1, label='chance')
  axes.legend(fontsize=7, loc='lower right')
  return finished(axes)


def precision_recall_chart(plots: curves.SlicePlots, title: str = 'Precision-recall curve',
                           axes: Optional[Axes] = None) -> Figure:
  """Precision against recall at each threshold where something is predicted positive; the dotted line is the
  share of positives (a model that guesses)."""
  axes = curve_axes(axes, title, 'recall', 'precision')
  recall, precision = curves.precision_recall_points(plots.matrices)
  axes.plot(recall, precision, color=BAR_COLOUR, marker='.', markersize=3, linewidth=1.5, label='model')
  matrices = plots.matrices
  positives = matrices.true_positives[0] + matrices.false_negatives[0]
  total = positives + matrices.false_positives[0] + matrices.true_negatives[0]
  if total > 0:
    axes.axhline(positives / total, color='#999999', linestyle=':', linewidth=1,
                 label=f'share of positives {format_number(positives / total)}')
  axes.legend(fontsize=7, loc='lower left')
  return finished(axes)


def calibration_chart(plots: curves.SlicePlots, bins: int = 10, title: str = 'Calibration',
                      axes: Optional[Axes] = None) -> Figure:
  """The reliability diagram: the share of positives against the mean score in each score bin, with its examples;
  a calibrated model lies on the diagonal."""
  axes = curve_axes(axes, title, 'mean score in the bin', 'share of positives')
  mean_score, positive_share, examples = curves.reliability(plots.buckets, bins)
  axes.plot([0, 1], [0, 1], color='#999999', linestyle=':', linewidth=1, label='calibrated')
  axes.plot(mean_score, positive_share, color=LINE_COLOUR, marker='o', markersize=4, linewidth=1.2, label='model')
  for x, y, n in zip(mean_score, positive_share, examples):
    axes.annotate(f'{n:.0f}', (x, y), textcoords='offset points', xytext=(3, -9), fontsize=6, color='#555555')
  axes.legend(fontsize=7, loc='upper left')
  return finished(axes)


def score_distribution_chart(plots: curves.SlicePlots, bins: int = 20, title: str = 'Scores per class',
                             axes: Optional[Axes] = None) -> Figure:
  """How the model scores each class: the share of the positives and of the negatives in each score bin."""
  axes = curve_axes(axes, title, 'score', 'share of the class', unit=False)
  edges, positives, negatives = curves.score_distribution(plots.buckets, bins)
  width = np.diff(edges)
  for counts, colour, name, shift in ((negatives, NEGATIVE_COLOUR, 'negatives', 0.0),
                                      (positives, BAR_COLOUR, 'positives', 0.5)):
    total = counts.sum()
    axes.bar(edges[:-1] + width * shift, counts / total if total > 0 else counts, width=width / 2, align='edge',
             color=colour, label=f'{name} (n={total:.0f})')
  axes.set_xlim(0, 1)
  axes.legend(fontsize=7, loc='upper center')
  return finished(axes)


def curve_charts(plots: curves.SlicePlots, auc: float = math.nan) -> List[Tuple[Figure, str]]:
  """The four charts of a slice's plots, each with what it shows: ROC, precision-recall, calibration, scores."""
  return [(roc_chart(plots, auc), 'ROC curve'), (precision_recall_chart(plots), 'precision-recall curve'),
          (calibration_chart(plots), 'calibration (reliability) plot'),
          (score_distribution_chart(plots), 'score distribution per class')]


def curves_chart(plots: curves.SlicePlots, auc: float = math.nan) -> Figure:
  """The four charts of curve_charts in one figure, two by two."""
  figure = Figure(figsize=(2 * CURVE_SIZE[0], 2 * CURVE_SIZE[1]))
  (roc, pr), (calibration, scores) = figure.subplots(2, 2)
  roc_chart(plots, auc, axes=roc)
  precision_recall_chart(plots, axes=pr)
  calibration_chart(plots, axes=calibration)
  score_distribution_chart(plots, axes=scores)
  figure.tight_layout()
  return figure


def operating_points(plots: curves.SlicePlots, thresholds: Sequence[float] = OPERATING_THRESHOLDS) -> pd.DataFrame:
  """The confusion matrix, precision, recall and false positive rate at a few thresholds, one row each."""
  rows = [curves.at_threshold(plots.matrices, t) for t in thresholds]
  frame = pd.DataFrame(rows).set_index('threshold')
  counts = ['true_positives', 'false_positives', 'true_negatives', 'false_negatives']
  frame[counts] = frame[counts].round().astype(int)
  return frame


def auc_trend_chart(runs: Sequence[str], aucs: Sequence[float]) -> Figure:
  """The overall AUC of runs, oldest first (runs without one are gaps)."""
  figure = Figure(figsize=(6.5, 2.6))
  axes = figure.subplots()
  positions = np.arange(len(runs))
  values = np.array(aucs, dtype=np.float64)
  axes.plot(positions, values, color=BAR_COLOUR, marker='o', markersize=4, linewidth=1.2)
  for x, y in zip(positions, values):
    if not math.isnan(y):
      axes.annotate(format_number(y), (x, y), textcoords='offset points', xytext=(0, 5), ha='center', fontsize=7)
  axes.set_xticks(positions, [run[:19] for run in runs], rotation=30, ha='right', fontsize=6)
  defined = values[~np.isnan(values)]
  if len(defined):
    spread = max(defined.max() - defined.min(), 0.02)
    axes.set_ylim(max(defined.min() - spread, 0.0), min(defined.max() + spread, 1.0) + spread / 4)
  axes.set_ylabel('overall auc', fontsize=8)
  axes.set_title(f'Overall AUC of the last {len(runs)} runs, oldest first', fontsize=10)
  axes.tick_params(axis='y', labelsize=7)
  axes.grid(alpha=0.3)
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
