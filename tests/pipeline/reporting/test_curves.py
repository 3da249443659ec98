"""pipeline/reporting/curves.py and the charts and tables analysis.py draws from it, on plots built like TFMA's."""
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from pipeline.evaluation import classifier_metrics
from pipeline.reporting import analysis, curves

RNG = np.random.default_rng(7)
LABELS = (RNG.random(400) < 0.3).astype(float)
SCORES = np.clip(0.35 * LABELS + 0.65 * RNG.random(400), 0.0, 0.999)  # positives score higher, none exactly 1
THRESHOLDS = [-1e-6] + [i / 100 for i in range(101)]  # ConfusionMatrixPlot's, at num_thresholds=100


def confusion_matrices(labels, scores, thresholds) -> metrics_for_slice_pb2.ConfusionMatrixAtThresholds:
  """The counts at each threshold, a score above it predicting positive, as TFMA writes them."""
  proto = metrics_for_slice_pb2.ConfusionMatrixAtThresholds()
  for t in thresholds:
    predicted = scores > t
    proto.matrices.add(threshold=t, true_positives=float(np.sum(predicted & (labels == 1))),
                       false_positives=float(np.sum(predicted & (labels == 0))),
                       true_negatives=float(np.sum(~predicted & (labels == 0))),
                       false_negatives=float(np.sum(~predicted & (labels == 1))))
  return proto


def calibration_buckets(labels, scores, buckets: int = 100) -> metrics_for_slice_pb2.CalibrationHistogramBuckets:
  """CalibrationPlot's histogram: [-inf, 0), then `buckets` equal buckets of [0, 1), then [1, inf)."""
  edges = [-math.inf] + [i / buckets for i in range(buckets + 1)] + [math.inf]
  proto = metrics_for_slice_pb2.CalibrationHistogramBuckets()
  for lower, upper in zip(edges[:-1], edges[1:]):
    inside = (scores >= lower) & (scores < upper)
    proto.buckets.add(lower_threshold_inclusive=lower, upper_threshold_exclusive=upper,
                      num_weighted_examples={'value': float(inside.sum())},
                      total_weighted_label={'value': float(labels[inside].sum())},
                      total_weighted_refined_prediction={'value': float(scores[inside].sum())})
  return proto


def plots(labels=LABELS, scores=SCORES, thresholds=THRESHOLDS) -> curves.SlicePlots:
  return curves.SlicePlots(curves.matrices_from_proto(confusion_matrices(labels, scores, thresholds)),
                           curves.buckets_from_proto(calibration_buckets(labels, scores)))


def test_roc_and_precision_recall_points_are_the_rates_of_the_confusion_matrices():
  matrices = plots().matrices
  tp, fp, tn, fn = (matrices.true_positives, matrices.false_positives, matrices.true_negatives,
                    matrices.false_negatives)
  false_rate, true_rate = curves.roc_points(matrices)
  np.testing.assert_allclose(false_rate, (fp / (fp + tn))[::-1])
  np.testing.assert_allclose(true_rate, (tp / (tp + fn))[::-1])
  assert (false_rate[0], true_rate[0]) == (0.0, 0.0) and (false_rate[-1], true_rate[-1]) == (1.0, 1.0)
  recall, precision = curves.precision_recall_points(matrices)
  shown = (tp + fp)[::-1] > 0  # at the top thresholds nothing is predicted positive: no precision
  np.testing.assert_allclose(precision, (tp / np.where(tp + fp > 0, tp + fp, 1))[::-1][shown])
  np.testing.assert_allclose(recall, (tp / (tp + fn))[::-1][shown])
  assert precision[-1] == pytest.approx(LABELS.mean())  # everything predicted positive


def test_the_charts_draw_exactly_those_points():
  slice_plots = plots()
  roc = analysis.roc_chart(slice_plots, auc=0.8).axes[0].lines[0].get_xydata()
  np.testing.assert_allclose(roc, np.column_stack(curves.roc_points(slice_plots.matrices)))
  pr = analysis.precision_recall_chart(slice_plots).axes[0].lines[0].get_xydata()
  np.testing.assert_allclose(pr, np.column_stack(curves.precision_recall_points(slice_plots.matrices)))
  assert len(analysis.curves_chart(slice_plots, 0.8).axes) == 4


def test_the_roc_area_at_every_distinct_score_is_the_exact_auc_of_the_metrics():
  labels, scores = LABELS[:60], np.round(SCORES[:60], 2)  # ties count half in both
  thresholds = [-1.0] + sorted(set(scores))
  false_rate, true_rate = curves.roc_points(curves.matrices_from_proto(confusion_matrices(labels, scores,
                                                                                          thresholds)))
  exact = classifier_metrics.exact_roc_auc(labels, scores, np.ones_like(labels))
  assert curves.curve_area(false_rate, true_rate) == pytest.approx(exact)


def test_calibration_and_score_distribution_come_from_the_buckets():
  buckets = plots().buckets
  mean_score, positive_share, examples = curves.reliability(buckets, bins=10)
  index = np.minimum((SCORES * 10).astype(int), 9)
  for i, (score, share, count) in enumerate(zip(mean_score, positive_share, examples)):
    members = np.unique(index)[i]
    assert count == np.sum(index == members)
    assert score == pytest.approx(SCORES[index == members].mean())
    assert share == pytest.approx(LABELS[index == members].mean())
  edges, positives, negatives = curves.score_distribution(buckets, bins=20)
  np.testing.assert_allclose(edges, np.linspace(0, 1, 21))
  np.testing.assert_array_equal(positives, np.histogram(SCORES[LABELS == 1], bins=edges)[0])
  np.testing.assert_array_equal(negatives, np.histogram(SCORES[LABELS == 0], bins=edges)[0])
  assert positives.sum() + negatives.sum() == len(SCORES)


def test_the_confusion_matrix_at_a_threshold_gives_its_precision_and_recall():
  table = analysis.operating_points(plots())
  row = table.loc[0.5]
  predicted = SCORES > 0.5
  assert row['true_positives'] == np.sum(predicted & (LABELS == 1))
  assert row['false_positives'] == np.sum(predicted & (LABELS == 0))
  assert row[['true_positives', 'false_positives', 'true_negatives', 'false_negatives']].sum() == len(SCORES)
  assert row['precision'] == pytest.approx(LABELS[predicted].mean())
  assert row['recall'] == pytest.approx(predicted[LABELS == 1].mean())
  assert list(table.index) == list(analysis.OPERATING_THRESHOLDS)


def test_plots_are_read_from_an_evaluator_output_for_the_candidate_model(tmp_path):
  slice_key = (('payment_type', 'Cash'),)
  records = []
  for key, labels, scores in (((), LABELS, SCORES), (slice_key, LABELS[:50], SCORES[:50])):
    per_slice = metrics_for_slice_pb2.PlotsForSlice(slice_key=tfma.slicer.serialize_slice_key(key))
    for model, flip in (('baseline', True), ('candidate', False)):
      entry = per_slice.plot_keys_and_values.add()
      entry.key.model_name = model
      entry.value.confusion_matrix_at_thresholds.CopyFrom(
          confusion_matrices(labels, 1 - scores if flip else scores, THRESHOLDS))
      entry.value.calibration_histogram_buckets.CopyFrom(calibration_buckets(labels, scores))
    records.append(per_slice)
  records.append(metrics_for_slice_pb2.PlotsForSlice(  # a slice without plots, as TFMA writes when none is set
      slice_key=tfma.slicer.serialize_slice_key((('company', 'x'),))))
  with tf.io.TFRecordWriter(str(tmp_path / 'plots-00000-of-00001.tfrecord')) as writer:
    for record in records:
      writer.write(record.SerializeToString())
  found = curves.read_plots(str(tmp_path))
  assert set(found) == {(), slice_key}
  np.testing.assert_array_equal(found[slice_key].matrices.true_positives,
                                plots(LABELS[:50], SCORES[:50]).matrices.true_positives)
  assert found[()].buckets.examples.sum() == len(SCORES)
  assert curves.read_plots(str(tmp_path / 'nothing')) == {}


def test_the_auc_interval_is_hanley_mcneils_and_narrows_with_more_examples():
  # Hanley and McNeil (1982), Radiology 143:29-36: A = 0.893 over 51 abnormal and 58 normal images, SE 0.032.
  assert curves.auc_standard_error(0.893, 51, 58) == pytest.approx(0.032, abs=0.001)
  low, high = curves.auc_interval(0.893, 51, 58)
  assert (low, high) == pytest.approx((0.893 - 1.96 * 0.0325, 0.893 + 1.96 * 0.0325), abs=0.003)
  widths = [np.subtract(*curves.auc_interval(0.8, n * 0.3, n * 0.7)[::-1]) for n in (10, 30, 100, 300, 3000)]
  assert widths == sorted(widths, reverse=True) and widths[-1] < 0.04
  small_low, small_high = curves.auc_interval(0.8, 2, 5)  # 7 examples
  big_low, big_high = curves.auc_interval(0.8, 90, 210)  # 300 examples
  assert small_high - small_low > 0.5 and big_high - big_low < 0.12
  assert curves.auc_interval(1.0, 2, 5)[0] < 0.85  # a perfect AUC over 7 examples is no certainty
  assert all(math.isnan(v) for v in curves.auc_interval(0.8, 7, 0) + curves.auc_interval(math.nan, 5, 5))
  assert curves.auc_interval(0.99, 300, 300)[1] <= 1.0 and curves.auc_interval(0.01, 300, 300)[0] >= 0.0


def test_the_metrics_tables_give_each_slice_its_count_and_auc_interval():
  metrics = {(): {'example_count': 307.0, 'auc': 0.8, 'mean_label': 0.3},
             (('company', 'big'),): {'example_count': 300.0, 'auc': 0.8, 'mean_label': 0.3},
             (('company', 'small'),): {'example_count': 7.0, 'auc': 0.8, 'mean_label': 2 / 7},
             (('company', 'one class'),): {'example_count': 20.0, 'auc': math.nan, 'mean_label': 0.0}}
  table = analysis.metrics_table(metrics, 'company')
  assert list(table.columns[:4]) == ['example_count', 'auc', analysis.AUC_LOW, analysis.AUC_HIGH]
  assert list(table.index) == ['big', 'one class', 'small'] and list(table['example_count']) == [300, 20, 7]
  width = table[analysis.AUC_HIGH] - table[analysis.AUC_LOW]
  assert width['small'] > 0.5 > 0.12 > width['big'] and math.isnan(width['one class'])
  assert tuple(table.loc['big', [analysis.AUC_LOW, analysis.AUC_HIGH]]) == curves.auc_interval(0.8, 90, 210)
  whiskers = analysis.slice_chart(metrics, 'company').axes[0].collections[0].get_segments()
  spans = sorted(segment[1][0] - segment[0][0] for segment in whiskers if len(segment))  # none without an AUC
  assert spans == pytest.approx([width['big'], width['small']])


def test_numbers_are_shown_with_fixed_decimals_never_in_scientific_notation():
  assert analysis.format_number(1.803478e-01) == '0.1803'
  assert analysis.format_number(2.5e-07) == '0.0000' and analysis.format_number(np.float32(0.5)) == '0.5000'
  assert analysis.format_number(math.nan) == 'n/a' and analysis.format_number(596) == '596'


def test_the_auc_of_the_last_runs_is_drawn_oldest_first_with_gaps():
  figure = analysis.auc_trend_chart(['r1', 'r2', 'r3'], [0.9, math.nan, 0.92])
  points = figure.axes[0].lines[0].get_xydata()
  assert list(points[:, 0]) == [0, 1, 2] and points[0, 1] == 0.9 and math.isnan(points[1, 1])
  assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ['r1', 'r2', 'r3']
