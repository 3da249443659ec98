"""The Evaluator's metrics of a binary classifier, all from one TFMA combiner.

TFMA's own ExampleCount, AUC, BinaryAccuracy, Precision, Recall, Calibration, MeanLabel and MeanPrediction run six
combiners that each unpack every (example, slice) pair again, and AUC rebuilds 10,000 confusion matrices per slice
in Python: most of the Evaluator's time. This metric unpacks each example once, before TFMA hands it to the slices
it falls in (TriplesPreprocessor), and computes the same values with numpy, under the same names, so blessing
thresholds, reports and notebooks read them as before:
- auc: the exact ROC AUC (tied scores count half) while a slice has at most MAX_UNFOLDED examples, beyond that
  over NUM_BUCKETS equal-width score buckets (TFMA's AUC always uses 10,000 thresholds: 0.49 on a slice whose one
  positive scored near 0, where the exact AUC is 0.96); NaN when a slice holds one class only, where it is undefined,
  and when any score is NaN (ranking it highest or lowest would give a finite AUC to a model that gave no score);
- binary_accuracy, precision, recall: at THRESHOLD, a score above it being a positive prediction (TFMA's
  defaults); precision and recall are NaN when their denominator is 0, as in TFMA;
- calibration (weighted predictions / weighted labels), mean_label, mean_prediction, example_count.

It also gives the plots of TFMA's ConfusionMatrixPlot and CalibrationPlot at PLOT_BUCKETS (the report's and the
notebooks' curves), computed by TFMA's own code from the calibration histogram TFMA would build, here folded from
the same pairs: TFMA's histogram combiner, which unpacked every pair again, took about a fifth of the Evaluator's time.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.api import types as tfma_types
from tensorflow_model_analysis.metrics import calibration_histogram, calibration_plot, confusion_matrix_plot
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2

from models.contract import DECISION_THRESHOLD
from pipeline.evaluation import metric_names

NUM_BUCKETS = 10_000  # of TFMA's calibration histogram over [0, 1), plus one below it and one from 1 up.
PLOT_BUCKETS = 100  # thresholds of the confusion-matrix plot and buckets of the calibration plot.
THRESHOLD = DECISION_THRESHOLD
MAX_UNFOLDED = 100_000  # scores an accumulator keeps as they are before folding them into its histogram.
NAMES = metric_names.ALL
Triples = Tuple[Tuple[float, float, float], ...]  # an example's (label, score, weight) for one model output.


@dataclasses.dataclass
class Totals:
  """Weighted counts of a set of (label, score, weight) triples: all that the metrics need, of a fixed size.

  Per bucket of TFMA's calibration histogram (histogram_index), its weighted labels, examples and predictions."""
  positives: np.ndarray  # weight of positive labels per score bucket
  negatives: np.ndarray  # weight of negative labels per score bucket
  predictions: np.ndarray  # weighted scores per score bucket
  true_positives: float = 0.0
  false_positives: float = 0.0
  true_negatives: float = 0.0
  false_negatives: float = 0.0
  unscored: float = 0.0  # triples whose score is NaN: the model gave no score, so the AUC is undefined

  def __add__(self, other: 'Totals') -> 'Totals':
    return Totals(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


def arrays(labels: Iterable[float], scores: Iterable[float],
           weights: Iterable[float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Labels, scores and weights as float arrays."""
  return tuple(np.asarray(list(values), dtype=np.float64) for values in (labels, scores, weights))


def label_weights_at(label: np.ndarray, weight: np.ndarray, index: np.ndarray,
                  size: int) -> Tuple[np.ndarray, np.ndarray]:
  """The weight of positive and of negative labels at each index (a score bucket or a distinct score)."""
  return (np.bincount(index, weights=weight * label, minlength=size),
          np.bincount(index, weights=weight * (1 - label), minlength=size))


def histogram_index(score: np.ndarray) -> np.ndarray:
  """The bucket of each score in TFMA's calibration histogram over [0, 1) (its arithmetic, so the same bucket): 0
  below 0, NUM_BUCKETS + 1 from 1 up; a NaN score in bucket 1 (TFMA's fails on it)."""
  index = np.floor((np.nan_to_num(score) - 0.0) / 1.0 * NUM_BUCKETS + 1)
  return np.clip(index, 0, NUM_BUCKETS + 1).astype(np.int64)


def fold(labels: Iterable[float], scores: Iterable[float], weights: Iterable[float]) -> Totals:
  """The totals of labels (1 positive, 0 negative), scores in [0, 1] and example weights."""
  label, score, weight = arrays(labels, scores, weights)
  buckets = histogram_index(score)
  positive, predicted = label > THRESHOLD, score > THRESHOLD
  positives, negatives = label_weights_at(label, weight, buckets, NUM_BUCKETS + 2)
  return Totals(
      positives=positives,
      negatives=negatives,
      predictions=np.bincount(buckets, weights=weight * score, minlength=NUM_BUCKETS + 2),
      true_positives=float(weight[positive & predicted].sum()),
      false_positives=float(weight[~positive & predicted].sum()),
      true_negatives=float(weight[~positive & ~predicted].sum()),
      false_negatives=float(weight[positive & ~predicted].sum()),
      unscored=float(np.isnan(score).sum()))


def roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
  """Area under the ROC curve of label weights by ascending score (bucket); NaN with one class only.

  Trapezoids between the points at each score from the highest down: examples that share a score (bucket)
  count half, as in the Mann-Whitney statistic.
  """
  positive_total, negative_total = positives.sum(), negatives.sum()
  if positive_total <= 0 or negative_total <= 0:
    return math.nan
  true_rate = np.concatenate([[0.0], np.cumsum(positives[::-1])]) / positive_total
  false_rate = np.concatenate([[0.0], np.cumsum(negatives[::-1])]) / negative_total
  return float(np.sum(np.diff(false_rate) * (true_rate[1:] + true_rate[:-1]) / 2))


def ratio(numerator: float, denominator: float) -> float:
  """numerator / denominator, NaN unless the denominator is positive."""
  return numerator / denominator if denominator > 0 else math.nan


def exact_roc_auc(labels: Iterable[float], scores: Iterable[float], weights: Iterable[float]) -> float:
  """The ROC AUC of every distinct score; NaN with one class only."""
  label, score, weight = arrays(labels, scores, weights)
  distinct, index = np.unique(score, return_inverse=True)
  return roc_auc(*label_weights_at(label, weight, index, len(distinct)))


def metric_values(totals: Totals, example_count: int, auc: float) -> Dict[str, float]:
  """Every metric in NAMES, by name, from the totals and the AUC."""
  weighted_labels = float(totals.positives.sum())
  weighted_predictions = float(totals.predictions.sum())
  weighted_examples = weighted_labels + float(totals.negatives.sum())
  correct = totals.true_positives + totals.true_negatives
  return {
      'example_count': float(example_count),
      'auc': auc,
      'binary_accuracy': ratio(correct, weighted_examples),
      'precision': ratio(totals.true_positives, totals.true_positives + totals.false_positives),
      'recall': ratio(totals.true_positives, totals.true_positives + totals.false_negatives),
      'calibration': ratio(weighted_predictions, weighted_labels),
      'mean_label': ratio(weighted_labels, weighted_examples),
      'mean_prediction': ratio(weighted_predictions, weighted_examples),
  }


def tfma_histogram(totals: Totals) -> calibration_histogram.Histogram:
  """TFMA's calibration histogram of the totals: its non-empty buckets, in order."""
  examples = totals.positives + totals.negatives
  return [calibration_histogram.Bucket(int(i), float(totals.positives[i]), float(totals.predictions[i]),
                                       float(examples[i])) for i in np.flatnonzero(examples)]


def plot_chains(buckets: int, **key_args: Any) -> List[metric_types.MetricComputations]:
  """TFMA's ConfusionMatrixPlot and CalibrationPlot of one model output, each as its computations: the calibration
  histogram first, then those derived from it in order."""
  plots = (confusion_matrix_plot.ConfusionMatrixPlot(num_thresholds=buckets),
           calibration_plot.CalibrationPlot(num_buckets=buckets, left=0.0, right=1.0))
  return [plot.computations(**key_args) for plot in plots]


def derived_plots(chains: List[metric_types.MetricComputations],
                  histogram: calibration_histogram.Histogram) -> Dict[metric_types.PlotKey, Any]:
  """The plots of each chain (plot_chains) computed by TFMA's code from the histogram, by plot key."""
  plots = {}
  for [histogram_computation, *derived] in chains:
    values = {histogram_computation.keys[-1]: histogram}
    for computation in derived:
      values.update(computation.result(values))
    plots.update({key: values[key] for key in derived[-1].keys})
  return plots


@dataclasses.dataclass
class Accumulator:
  """A slice's examples so far: the latest triples as they came, the earlier ones folded into totals."""
  labels: List[float] = dataclasses.field(default_factory=list)
  scores: List[float] = dataclasses.field(default_factory=list)
  weights: List[float] = dataclasses.field(default_factory=list)
  example_count: int = 0
  folded: Optional[Totals] = None

  def totals(self) -> Totals:
    """The totals of every triple added."""
    unfolded = fold(self.labels, self.scores, self.weights)
    return unfolded + self.folded if self.folded else unfolded

  def auc(self, totals: Totals) -> float:
    """The exact AUC until triples were folded, then the AUC over the score buckets of totals (self.totals()).

    NaN when any score is NaN: a model that scores an example NaN has no AUC (never a finite one, as ranking the
    NaN highest or lowest would give), so it is never blessed.
    """
    if totals.unscored:
      return math.nan
    if self.folded:
      return roc_auc(totals.positives, totals.negatives)
    return exact_roc_auc(self.labels, self.scores, self.weights)

  def fold_if_large(self) -> None:
    """Folds the kept triples into the totals when there are many, so that an accumulator's size is bounded."""
    if len(self.scores) > MAX_UNFOLDED:
      self.folded = self.totals()
      self.labels, self.scores, self.weights = [], [], []


class TriplesPreprocessor(metric_types.Preprocessor):
  """An example's (label, score, weight) triples of one model output, unpacked by TFMA's own
  to_label_prediction_example_weight once per example: TFMA hands a preprocessor's output to the combiner of every
  slice the example falls in, where unpacking it in the combiner repeated the work for each slice."""

  def __init__(self, key: metric_types.MetricKey, eval_config: Optional[config_pb2.EvalConfig],
               aggregation_type: Optional[metric_types.AggregationType],
               class_weights: Optional[Dict[int, float]], example_weighted: bool):
    super().__init__(name=f'classifier_triples[{key.model_name}][{key.output_name}][{key.sub_key}]')
    self._key = key
    self._eval_config = eval_config
    self._aggregation_type = aggregation_type
    self._class_weights = class_weights
    self._example_weighted = example_weighted

  def process(self, extracts: tfma_types.Extracts) -> Iterator[Triples]:
    yield tuple((float(label), float(score), float(weight)) for label, score, weight in
                metric_util.to_label_prediction_example_weight(
                    metric_util.to_standard_metric_inputs(extracts), eval_config=self._eval_config,
                    model_name=self._key.model_name, output_name=self._key.output_name, sub_key=self._key.sub_key,
                    aggregation_type=self._aggregation_type, class_weights=self._class_weights,
                    example_weighted=self._example_weighted))


class ClassifierMetricsCombiner(beam.CombineFn):
  """Accumulates one model output's (label, score, weight) triples (TriplesPreprocessor's) per slice and computes
  NAMES from them."""

  def __init__(self, keys: Dict[str, metric_types.MetricKey],
               plots: Optional[List[metric_types.MetricComputations]] = None):
    self._keys = keys
    self._plots = plots or []

  def create_accumulator(self) -> Accumulator:
    return Accumulator()

  def add_input(self, accumulator: Accumulator, element: Triples) -> Accumulator:
    for label, score, weight in element:
      accumulator.labels.append(label)
      accumulator.scores.append(score)
      accumulator.weights.append(weight)
    accumulator.example_count += 1
    accumulator.fold_if_large()
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[Accumulator]) -> Accumulator:
    accumulators = iter(accumulators)
    merged = next(accumulators)
    for accumulator in accumulators:
      merged.labels += accumulator.labels
      merged.scores += accumulator.scores
      merged.weights += accumulator.weights
      merged.example_count += accumulator.example_count
      if accumulator.folded:
        merged.folded = merged.folded + accumulator.folded if merged.folded else accumulator.folded
      merged.fold_if_large()
    return merged

  def extract_output(self, accumulator: Accumulator) -> Dict[metric_types.MetricKey, Any]:
    totals = accumulator.totals()
    values = metric_values(totals, accumulator.example_count, accumulator.auc(totals))
    outputs = {key: values[name] for name, key in self._keys.items()}
    if self._plots:
      outputs.update(derived_plots(self._plots, tfma_histogram(totals)))
    return outputs


def classifier_metric_computations(
    eval_config: Optional[config_pb2.EvalConfig] = None, model_name: str = '', output_name: str = '',
    sub_key: Optional[metric_types.SubKey] = None,
    aggregation_type: Optional[metric_types.AggregationType] = None,
    class_weights: Optional[Dict[int, float]] = None, example_weighted: bool = False, name: str = '',
    source_sha256: str = '', plot_buckets: int = PLOT_BUCKETS) -> metric_types.MetricComputations:
  """The one computation of every metric in NAMES and, with plot_buckets, the two plots, for one model output
  (name and source_sha256: see below)."""
  del name, source_sha256  # the metrics are named by NAMES; the digest only marks the code.
  keys = {name: metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                       sub_key=sub_key, example_weighted=example_weighted) for name in NAMES}
  plots = plot_chains(plot_buckets, eval_config=eval_config, model_names=[model_name], output_names=[output_name],
                      sub_keys=[sub_key], aggregation_type=aggregation_type, class_weights=class_weights,
                      example_weighted=example_weighted) if plot_buckets else []
  return [metric_types.MetricComputation(
      keys=list(keys.values()) + [key for chain in plots for key in chain[-1].keys],
      preprocessors=[TriplesPreprocessor(keys['auc'], eval_config, aggregation_type, class_weights, example_weighted)],
      combiner=ClassifierMetricsCombiner(keys, plots))]


class ClassifierMetrics(metric_types.Metric):
  """example_count, auc, binary_accuracy, precision, recall, calibration, mean_label and mean_prediction, and with
  plot_buckets (0: none) the plots of TFMA's ConfusionMatrixPlot and CalibrationPlot at that many buckets.

  TFMA applies the thresholds of a MetricConfig to the metric named like the instance: hence the name 'auc', the
  metric that blessing is gated on. source_sha256 (the digest of this file, set by the eval config) changes the
  Evaluator's parameters when this code changes, so a cached evaluation is not reused after an edit.
  """

  def __init__(self, name: str = metric_names.GATED, source_sha256: str = '', plot_buckets: int = PLOT_BUCKETS):
    super().__init__(metric_util.merge_per_key_computations(classifier_metric_computations), name=name,
                     source_sha256=source_sha256, plot_buckets=plot_buckets)
