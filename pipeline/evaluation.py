"""The TFMA configuration: metrics, slices and the blessing thresholds."""
from __future__ import annotations

import tensorflow_model_analysis as tfma

from models.model import PREDICTION_KEY
from models.trainer import SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from preprocessing import features

METRICS = ('ExampleCount', 'AUC', 'BinaryAccuracy', 'Precision', 'Recall', 'Calibration', 'MeanLabel',
           'MeanPrediction')
GATED_METRIC = 'AUC'
GATED_METRIC_KEY = 'auc'


def auc_threshold(auc_floor: float, compare_to_baseline: bool) -> tfma.MetricThreshold:
  """AUC at least auc_floor and, with a baseline, no lower than the baseline's."""
  threshold = tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(lower_bound={'value': auc_floor}))
  if compare_to_baseline:
    threshold.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={'value': -1e-10}))
  return threshold


def eval_config(auc_floor: float, compare_to_baseline: bool) -> tfma.EvalConfig:
  """Metrics overall and per declared slice column, through the raw-example serving signature.

  The blessing thresholds apply to the overall slice; per-slice metrics are reported, not gated (many slices
  hold a few dozen examples of one class, where AUC is undefined).
  """
  metrics = [tfma.MetricConfig(class_name=name) for name in METRICS if name != GATED_METRIC]
  metrics.append(tfma.MetricConfig(
      class_name=GATED_METRIC,
      per_slice_thresholds=[tfma.PerSliceMetricThreshold(
          slicing_specs=[tfma.SlicingSpec()], threshold=auc_threshold(auc_floor, compare_to_baseline))]))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name=SERVING_SIGNATURE,
                                  preprocessing_function_names=[TRANSFORM_SIGNATURE],
                                  label_key=features.LABEL_KEY, prediction_key=PREDICTION_KEY)],
      metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
      slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[column])
                                           for column in features.slice_columns()])
