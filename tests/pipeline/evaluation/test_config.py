"""The TFMA configuration: slices and thresholds from the declarations, one metric of ours."""
import json

import tensorflow_model_analysis as tfma

from pipeline.evaluation.config import eval_config
from preprocessing import features


def test_slices_and_thresholds_come_from_the_declarations():
  config = eval_config(auc_floor=0.9, compare_to_baseline=True)
  assert config.model_specs[0].model_type == tfma.TF_GENERIC  # no Keras load only to detect the model type.
  sliced = [list(spec.feature_keys) for spec in config.slicing_specs]
  assert sliced == [[]] + [[c] for c in features.slice_columns()]
  assert {'trip_start_hour', 'payment_type', 'company'} <= set(features.slice_columns())
  [spec] = config.metrics_specs  # the report's curves come from the same metric (test_classifier_metrics.py)
  [metrics] = spec.metrics
  assert (metrics.module, metrics.class_name) == ('pipeline.evaluation.classifier_metrics', 'ClassifierMetrics')
  assert json.loads(metrics.config)['name'] == 'auc'  # the key TFMA applies the config's thresholds to
  threshold = metrics.per_slice_thresholds[0]
  assert [list(s.feature_keys) for s in threshold.slicing_specs] == [[]]
  assert threshold.threshold.value_threshold.lower_bound.value == 0.9
  assert threshold.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
  no_baseline = eval_config(auc_floor=0.9, compare_to_baseline=False)
  [metrics] = no_baseline.metrics_specs[0].metrics
  assert not metrics.per_slice_thresholds[0].threshold.HasField('change_threshold')

