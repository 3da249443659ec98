"""The curves of an evaluation, from the Evaluator's own plots, and how far a slice's AUC can be trusted.

TFMA's ConfusionMatrixPlot gives the counts at each threshold (a score above it is a positive prediction): the ROC
and precision-recall points. Its CalibrationPlot gives, per score bucket, the examples, the positives among them
and the sum of their scores: the reliability diagram and the score distribution of each class. The 95% interval of
an AUC comes from the slice's positives and negatives (Hanley and McNeil, 1982), so that an AUC over 7 examples is
not read like one over 300.

TFMA loads only in read_plots; the rest is numpy, shared by the report and the notebooks.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, Optional, Tuple

import numpy as np

from pipeline.evaluation import metric_names

SliceKey = Tuple[Tuple[str, str], ...]
Z_95 = 1.959964  # the standard normal quantile of a two-sided 95% interval
BASELINE_MODEL = 'baseline'  # TFMA's name of the model a candidate is compared with


@dataclasses.dataclass(frozen=True)
class ConfusionMatrices:
  """Weighted counts at ascending thresholds: a score above the threshold is a positive prediction."""
  thresholds: np.ndarray
  true_positives: np.ndarray
  false_positives: np.ndarray
  true_negatives: np.ndarray
  false_negatives: np.ndarray


@dataclasses.dataclass(frozen=True)
class ScoreBuckets:
  """A calibration histogram: per score bucket [lower, upper), the examples, positives and sum of scores."""
  lower: np.ndarray
  upper: np.ndarray
  examples: np.ndarray
  positives: np.ndarray  # the weighted labels, labels being 0 or 1
  scores: np.ndarray

  @property
  def negatives(self) -> np.ndarray:
    return self.examples - self.positives


@dataclasses.dataclass(frozen=True)
class SlicePlots:
  """What the Evaluator plotted for one slice; None where that plot is not configured."""
  matrices: Optional[ConfusionMatrices] = None
  buckets: Optional[ScoreBuckets] = None


def matrices_from_proto(proto) -> Optional[ConfusionMatrices]:
  """The counts of a TFMA ConfusionMatrixAtThresholds, None when it has none."""
  rows = sorted(proto.matrices, key=lambda m: m.threshold)
  if not rows:
    return None
  return ConfusionMatrices(*(np.array([getattr(m, name) for m in rows], dtype=np.float64) for name in (
      'threshold', 'true_positives', 'false_positives', 'true_negatives', 'false_negatives')))


def buckets_from_proto(proto) -> Optional[ScoreBuckets]:
  """The buckets of a TFMA CalibrationHistogramBuckets, None when it has none."""
  rows = sorted(proto.buckets, key=lambda b: b.lower_threshold_inclusive)
  if not rows:
    return None
  values = [(b.lower_threshold_inclusive, b.upper_threshold_exclusive, b.num_weighted_examples.value,
             b.total_weighted_label.value, b.total_weighted_refined_prediction.value) for b in rows]
  return ScoreBuckets(*np.array(values, dtype=np.float64).T)


def slice_plots(plots_for_slice) -> SlicePlots:
  """The candidate model's confusion matrices and calibration buckets in a TFMA PlotsForSlice."""
  matrices = buckets = None
  for entry in plots_for_slice.plot_keys_and_values:
    if entry.key.model_name == BASELINE_MODEL:
      continue
    matrices = matrices or matrices_from_proto(entry.value.confusion_matrix_at_thresholds)
    buckets = buckets or buckets_from_proto(entry.value.calibration_histogram_buckets)
  return SlicePlots(matrices, buckets)


def read_plots(evaluation_uri: str) -> Dict[SliceKey, SlicePlots]:
  """The plots of every slice in an Evaluator output (() is overall); slices without plots are left out."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  found = {}
  for plots_for_slice in tfma.load_plots(evaluation_uri):
    plots = slice_plots(plots_for_slice)
    if plots.matrices is not None or plots.buckets is not None:
      key = tuple((str(c), str(v)) for c, v in tfma.slicer.deserialize_slice_key(plots_for_slice.slice_key))
      found[key] = plots
  return found


def rates(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
  """numerator / denominator element-wise, NaN where the denominator is not positive."""
  return np.divide(numerator, denominator, out=np.full(len(numerator), np.nan), where=denominator > 0)


def roc_points(matrices: ConfusionMatrices) -> Tuple[np.ndarray, np.ndarray]:
  """(false positive rate, true positive rate) at each threshold, from the highest threshold down; empty when a
  class is missing."""
  false_rate = rates(matrices.false_positives, matrices.false_positives + matrices.true_negatives)[::-1]
  true_rate = rates(matrices.true_positives, matrices.true_positives + matrices.false_negatives)[::-1]
  defined = ~(np.isnan(false_rate) | np.isnan(true_rate))
  return false_rate[defined], true_rate[defined]


def precision_recall_points(matrices: ConfusionMatrices) -> Tuple[np.ndarray, np.ndarray]:
  """(recall, precision) at each threshold where something is predicted positive, from the highest threshold
  down."""
  predicted = matrices.true_positives + matrices.false_positives
  precision = rates(matrices.true_positives, predicted)[::-1]
  recall = rates(matrices.true_positives, matrices.true_positives + matrices.false_negatives)[::-1]
  defined = ~(np.isnan(precision) | np.isnan(recall))
  return recall[defined], precision[defined]


def curve_area(x: np.ndarray, y: np.ndarray) -> float:
  """The area under points joined by straight lines (trapezoids), NaN without two points."""
  if len(x) < 2:
    return math.nan
  return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def at_threshold(matrices: ConfusionMatrices, threshold: float) -> Dict[str, float]:
  """The counts, precision, recall and false positive rate at one of the plot's thresholds."""
  matches = np.flatnonzero(np.isclose(matrices.thresholds, threshold))
  if not len(matches):
    raise KeyError(f'no confusion matrix at threshold {threshold}')
  i = matches[0]
  tp, fp, tn, fn = (float(a[i]) for a in (matrices.true_positives, matrices.false_positives,
                                          matrices.true_negatives, matrices.false_negatives))
  return {'threshold': float(matrices.thresholds[i]), 'true_positives': tp, 'false_positives': fp,
          'true_negatives': tn, 'false_negatives': fn, 'precision': ratio(tp, tp + fp), 'recall': ratio(tp, tp + fn),
          'false_positive_rate': ratio(fp, fp + tn)}


def ratio(numerator: float, denominator: float) -> float:
  """numerator / denominator, NaN unless the denominator is positive."""
  return numerator / denominator if denominator > 0 else math.nan


def rebinned(buckets: ScoreBuckets, bins: int) -> ScoreBuckets:
  """The buckets summed into `bins` equal bins of [0, 1], each bucket into the bin of its middle (scores below 0
  into the first, from 1 into the last)."""
  edges = np.linspace(0.0, 1.0, bins + 1)
  lower = np.clip(np.nan_to_num(buckets.lower, neginf=0.0, posinf=1.0), 0.0, 1.0)
  upper = np.clip(np.nan_to_num(buckets.upper, neginf=0.0, posinf=1.0), 0.0, 1.0)
  index = np.clip(np.floor((lower + upper) / 2 * bins).astype(np.int64), 0, bins - 1)
  summed = (np.bincount(index, weights=values, minlength=bins)
            for values in (buckets.examples, buckets.positives, buckets.scores))
  return ScoreBuckets(edges[:-1], edges[1:], *summed)


def reliability(buckets: ScoreBuckets, bins: int = 10) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(mean score, share of positives, examples) of each non-empty bin: a calibrated model has them equal."""
  binned = rebinned(buckets, bins)
  filled = binned.examples > 0
  return (binned.scores[filled] / binned.examples[filled], binned.positives[filled] / binned.examples[filled],
          binned.examples[filled])


def score_distribution(buckets: ScoreBuckets, bins: int = 20) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(bin edges, positives per bin, negatives per bin): how the model scores each class."""
  binned = rebinned(buckets, bins)
  return np.append(binned.lower, binned.upper[-1]), binned.positives, binned.negatives


def class_counts(values: Dict[str, float]) -> Tuple[float, float]:
  """(positives, negatives) of a slice from its metrics: example_count and mean_label (weights are 1)."""
  count = values.get(metric_names.EXAMPLE_COUNT, math.nan)
  mean_label = values.get(metric_names.MEAN_LABEL, math.nan)
  if math.isnan(count) or math.isnan(mean_label):
    return math.nan, math.nan
  positives = round(mean_label * count)
  return float(positives), float(round(count) - positives)


def auc_standard_error(auc: float, positives: float, negatives: float) -> float:
  """The Hanley-McNeil standard error of an AUC over that many positives and negatives; NaN without both.

  It is taken at the AUC moved half a pair toward 0.5 (A' = (A * pairs + 0.5) / (pairs + 1)): an AUC of exactly 0
  or 1, common in small slices, would otherwise get no width at all; over hundreds of pairs the change is nil.
  """
  if math.isnan(auc) or not positives >= 1 or not negatives >= 1:
    return math.nan
  pairs = positives * negatives
  a = (auc * pairs + 0.5) / (pairs + 1)
  q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
  variance = (a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)) / pairs
  return math.sqrt(max(variance, 0.0))


def auc_interval(auc: float, positives: float, negatives: float, z: float = Z_95) -> Tuple[float, float]:
  """The 95% interval of an AUC (Hanley-McNeil), clipped to [0, 1]; (NaN, NaN) when it is undefined."""
  error = auc_standard_error(auc, positives, negatives)
  if math.isnan(error):
    return math.nan, math.nan
  return max(0.0, auc - z * error), min(1.0, auc + z * error)
