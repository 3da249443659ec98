"""The TFMA configuration: metrics, slices and blessing thresholds."""
from __future__ import annotations

import json
from pathlib import Path

import tensorflow_model_analysis as tfma

from models.contract import PREDICTION_KEY, SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from pipeline import config as config_lib
from pipeline.evaluation import classifier_metrics, metric_names
from preprocessing import features


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

  Every metric comes from one classifier_metrics.ClassifierMetrics, named after the gated metric, and so do TFMA's
  confusion matrix and calibration plots, the curves of the report and the notebook. The blessing
  thresholds apply to the overall slice; per-slice metrics are reported, not gated (many slices hold a few dozen
  examples of one class, where AUC is undefined).
  """
  metric_args = {'name': metric_names.GATED,
                 'source_sha256': config_lib.source_digest([Path(classifier_metrics.__file__)])}
  metrics = tfma.MetricConfig(
      class_name=classifier_metrics.ClassifierMetrics.__name__, module=classifier_metrics.__name__,
      config=json.dumps(metric_args),
      per_slice_thresholds=[tfma.PerSliceMetricThreshold(
          slicing_specs=[tfma.SlicingSpec()], threshold=auc_threshold(auc_floor, compare_to_baseline))])
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name=SERVING_SIGNATURE, model_type=tfma.TF_GENERIC,
                                  preprocessing_function_names=[TRANSFORM_SIGNATURE],
                                  label_key=features.LABEL_KEY, prediction_key=PREDICTION_KEY)],
      metrics_specs=[tfma.MetricsSpec(metrics=[metrics])],
      slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[column])
                                           for column in features.slice_columns()])
