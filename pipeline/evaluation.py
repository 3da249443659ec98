"""The TFMA configuration (metrics, slices, blessing thresholds) and the baseline model it compares with."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import ml_metadata as mlmd
import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.components.common import resolver

from models.model import PREDICTION_KEY
from models.trainer import SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from pipeline import classifier_metrics
from pipeline import config as config_lib
from preprocessing import features

GATED_METRIC_KEY = 'auc'
CURRENT_MODEL_ID = evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY  # ModelBlessing: the model it judged.
BLESSED = evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY  # ModelBlessing: 1 when blessed.


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

  Every metric comes from one classifier_metrics.ClassifierMetrics, named after the gated metric. The blessing
  thresholds apply to the overall slice; per-slice metrics are reported, not gated (many slices hold a few dozen
  examples of one class, where AUC is undefined).
  """
  metric_args = {'name': GATED_METRIC_KEY,
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


def latest_blessed_other_than(models: List[types.Artifact], blessings: List[types.Artifact],
                              candidates: List[types.Artifact]) -> Tuple[List[types.Artifact], List[types.Artifact]]:
  """The newest model that an Evaluator blessed, leaving out the candidates, and that blessing; or ([], [])."""
  blessing_of = {b.get_int_custom_property(CURRENT_MODEL_ID): b for b in blessings
                 if b.get_int_custom_property(BLESSED) == 1}
  excluded = {c.id for c in candidates}
  model = max((m for m in models if m.id in blessing_of and m.id not in excluded), key=lambda m: m.id, default=None)
  return ([model], [blessing_of[model.id]]) if model else ([], [])


class BaselineModel(resolver.ResolverStrategy):
  """Resolves `model`: the last blessed model other than this run's `candidate` (nothing before the first).

  A rerun whose Trainer came from the cache thereby evaluates its candidate against the same baseline as the run
  that trained it, so its Evaluator and Pusher come from the cache too, instead of comparing a model with itself.
  """

  def resolve_artifacts(self, store: mlmd.MetadataStore,
                        input_dict: Dict[str, List[types.Artifact]]) -> Optional[Dict[str, List[types.Artifact]]]:
    model, blessing = latest_blessed_other_than(input_dict['model'], input_dict['model_blessing'],
                                                input_dict['candidate'])
    return {'model': model, 'model_blessing': blessing, 'candidate': input_dict['candidate']}  # TFX needs every key.
