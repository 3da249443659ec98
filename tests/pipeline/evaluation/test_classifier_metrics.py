"""The one-combiner classifier metrics: TFMA's values (AUC exact), thresholds that gate, bounded accumulators.

The last test runs TFX's Evaluator on the end-to-end run's model against a baseline."""
import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from sklearn.metrics import roc_auc_score
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import standard_artifacts

from models.contract import PREDICTION_KEY, SERVING_SIGNATURE, TRANSFORM_SIGNATURE
from pipeline.evaluation import classifier_metrics
from pipeline.evaluation.classifier_metrics import ClassifierMetricsCombiner, NAMES, PLOT_BUCKETS
from pipeline.evaluation.config import eval_config

TFMA_BUILTINS = ('ExampleCount', 'AUC', 'BinaryAccuracy', 'Precision', 'Recall', 'Calibration', 'MeanLabel',
                 'MeanPrediction')


def scored_examples(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
  """Labels, scores that rank them well but not perfectly, and a group column with three kinds of slice.

  Group 'tied' gives every example the same score, group 'one_class' holds negatives only.
  """
  rng = np.random.default_rng(seed)
  label = (rng.random(rows) < 0.3).astype(float)
  score = np.clip(0.35 * label + 0.65 * rng.random(rows), 0.0, 1.0)
  group = rng.choice(['a', 'b', 'tied', 'one_class'], rows, p=[0.45, 0.35, 0.1, 0.1])
  score[group == 'tied'] = 0.5
  label[group == 'one_class'] = 0.0
  return pd.DataFrame({'label': label, 'prediction': score, 'group': group})


def raw_data_config(metrics):
  """An eval config over the 'label' and 'prediction' columns, overall and per group."""
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(label_key='label', prediction_key='prediction')],
      metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
      slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=['group'])])


def metrics_by_slice(result: tfma.EvalResult):
  """{slice key: {metric name: float}} of an evaluation result."""
  return {key: {name: float(value['doubleValue']) for name, value in metrics[''][''].items()}
          for key, metrics in result.slicing_metrics}


def plots_by_slice(result: tfma.EvalResult):
  """{slice key: {plot name: TFMA's JSON of it}} of an evaluation result."""
  return {key: plots[''][''] for key, plots in result.plots}


class Evaluated(NamedTuple):
  """The examples, and by slice the metrics and plots of TFMA's built-ins and of ClassifierMetrics on them."""
  examples: pd.DataFrame
  builtin: dict
  ours: dict
  builtin_plots: dict
  ours_plots: dict


@pytest.fixture(scope='module')
def evaluated(tmp_path_factory) -> Evaluated:
  """TFMA's results for its built-in metrics and plots and for ClassifierMetrics on the scored examples."""
  examples = scored_examples()
  ours_config = eval_config(auc_floor=0.5, compare_to_baseline=False)
  ours = raw_data_config(list(ours_config.metrics_specs[0].metrics))
  builtin = raw_data_config([tfma.MetricConfig(class_name=name) for name in TFMA_BUILTINS] + [
      tfma.MetricConfig(class_name='ConfusionMatrixPlot', config=json.dumps({'num_thresholds': PLOT_BUCKETS})),
      tfma.MetricConfig(class_name='CalibrationPlot', config=json.dumps({'num_buckets': PLOT_BUCKETS}))])
  builtin_result = tfma.analyze_raw_data(examples, builtin, str(tmp_path_factory.mktemp('builtin')))
  ours_result = tfma.analyze_raw_data(examples, ours, str(tmp_path_factory.mktemp('ours')))
  return Evaluated(examples, metrics_by_slice(builtin_result), metrics_by_slice(ours_result),
                   plots_by_slice(builtin_result), plots_by_slice(ours_result))


def test_values_are_tfmas_with_the_same_names(evaluated):
  builtin, ours = evaluated.builtin, evaluated.ours
  assert set(ours) == set(builtin) and len(ours) == 5
  for key, values in ours.items():
    assert set(values) == set(NAMES) == set(builtin[key])
    for name in set(NAMES) - {'auc'}:
      expected = builtin[key][name]
      assert (math.isnan(values[name]) and math.isnan(expected)) or values[name] == pytest.approx(expected, 1e-9), \
          (key, name)


def test_auc_is_exact_where_tfmas_is_approximate_and_undefined_for_one_class(evaluated):
  examples, builtin, ours = evaluated.examples, evaluated.builtin, evaluated.ours
  for key in [(), (('group', 'a'),), (('group', 'b'),), (('group', 'tied'),)]:
    rows = examples if not key else examples[examples.group == key[0][1]]
    exact = roc_auc_score(rows.label, rows.prediction)
    assert ours[key]['auc'] == pytest.approx(exact, abs=1e-12), key
    assert builtin[key]['auc'] == pytest.approx(exact, abs=2e-3), key  # TFMA's 10,000 thresholds
  assert ours[(('group', 'tied'),)]['auc'] == pytest.approx(0.5)
  assert math.isnan(ours[(('group', 'one_class'),)]['auc'])
  assert builtin[(('group', 'one_class'),)]['auc'] == 0.0  # TFMA's value where AUC means nothing


def test_plots_are_tfmas_confusion_matrices_and_calibration_buckets(evaluated):
  builtin, ours = evaluated.builtin_plots, evaluated.ours_plots
  assert set(ours) == set(builtin) and len(ours) == 5
  for key, plots in ours.items():
    assert set(plots) == set(builtin[key]) == {'confusionMatrixAtThresholds', 'calibrationHistogramBuckets'}
    buckets = plots['calibrationHistogramBuckets']['buckets']
    assert len(plots['confusionMatrixAtThresholds']['matrices']) == len(buckets) == PLOT_BUCKETS + 2
    assert same_tree(plots, builtin[key]), key
  tied = ours[(('group', 'tied'),)]['confusionMatrixAtThresholds']['matrices']  # every score 0.5, a threshold
  at_half = next(m for m in tied if m.get('threshold') == 0.5)
  assert at_half.get('truePositives', 0) == at_half.get('falsePositives', 0) == 0


def same_tree(ours, theirs) -> bool:
  """Whether two JSON trees hold the same keys, strings and numbers (to 1e-9, relative), NaN matching NaN."""
  if isinstance(ours, dict):
    return isinstance(theirs, dict) and set(ours) == set(theirs) and all(same_tree(ours[k], theirs[k]) for k in ours)
  if isinstance(ours, list):
    return isinstance(theirs, list) and len(ours) == len(theirs) and all(map(same_tree, ours, theirs))
  if isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
    return (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)
  return ours == theirs


@pytest.mark.parametrize('floor, blessed', [(0.8, True), (0.85, False)])
def test_the_eval_config_gates_on_overall_auc(tmp_path, floor, blessed):
  examples = scored_examples()
  assert 0.8 < roc_auc_score(examples.label, examples.prediction) < 0.85
  metrics = list(eval_config(auc_floor=floor, compare_to_baseline=False).metrics_specs[0].metrics)
  tfma.analyze_raw_data(examples, raw_data_config(metrics), str(tmp_path))
  validation = tfma.load_validation_result(str(tmp_path))
  assert validation.validation_ok is blessed
  if not blessed:
    [failed] = validation.metric_validations_per_slice
    assert not failed.slice_key.single_slice_keys  # overall only: the one-class slice is not gated.
    assert [f.metric_key.name for f in failed.failures] == ['auc']
    assert failed.failures[0].metric_value.double_value.value < floor


def combine(computation: tfma.metrics.MetricComputation, examples: pd.DataFrame, parts: int):
  """The computation's output for the examples, preprocessed one by one, added in `parts` accumulators and then
  merged."""
  [preprocessor], combiner = computation.preprocessors, computation.combiner
  accumulators = []
  for part in np.array_split(examples, parts):
    accumulator = combiner.create_accumulator()
    for label, score in zip(part.label, part.prediction):
      extracts = {'labels': np.array([label]), 'predictions': np.array([score]), 'example_weights': np.array([1.0])}
      for element in preprocessor.process(extracts):
        accumulator = combiner.add_input(accumulator, element)
    accumulators.append(accumulator)
  outputs = combiner.extract_output(combiner.merge_accumulators(accumulators)).items()
  return ({key.name: value for key, value in outputs if key.name in NAMES},
          {key.name: json_format.MessageToDict(value) for key, value in outputs if key.name not in NAMES})


def test_accumulators_fold_large_inputs_into_buckets_and_merge_in_any_split(monkeypatch):
  examples = scored_examples(rows=2000, seed=1)
  [computation] = classifier_metrics.ClassifierMetrics().computations()
  exact, plots = combine(computation, examples, parts=1)
  merged, merged_plots = combine(computation, examples, parts=7)
  assert exact == pytest.approx(merged, nan_ok=True) and same_tree(merged_plots, plots)
  monkeypatch.setattr(classifier_metrics, 'MAX_UNFOLDED', 100)
  folded, folded_plots = combine(computation, examples, parts=3)
  assert set(plots) == {'confusion_matrix_plot', 'calibration_plot'} and same_tree(folded_plots, plots)
  for name in set(NAMES) - {'auc'}:
    assert folded[name] == pytest.approx(exact[name], 1e-12), name
  assert folded['auc'] != exact['auc'] and folded['auc'] == pytest.approx(exact['auc'], abs=1e-3)
  assert exact['auc'] == pytest.approx(roc_auc_score(examples.label, examples.prediction), abs=1e-12)


def degraded_copy(model_dir: Path, out: Path) -> Path:
  """A Model artifact directory whose serving signature flips a quarter of the model's scores (by example hash)."""
  real = tf.saved_model.load(str(model_dir))
  module = tf.Module()
  module.real = real
  serve, transform = real.signatures[SERVING_SIGNATURE], real.signatures[TRANSFORM_SIGNATURE]
  spec = tf.TensorSpec([None], tf.string, name='examples')

  @tf.function(input_signature=[spec])
  def flipped(examples):
    score = serve(examples=examples)[PREDICTION_KEY]
    flip = tf.reshape(tf.strings.to_hash_bucket_fast(examples, 4) == 0, tf.shape(score))
    return {PREDICTION_KEY: tf.where(flip, 1.0 - score, score)}

  @tf.function(input_signature=[spec])
  def transformed(examples):
    return transform(examples=examples)

  tf.saved_model.save(module, str(out / 'Format-Serving'),
                      signatures={SERVING_SIGNATURE: flipped, TRANSFORM_SIGNATURE: transformed})
  return out


def evaluate(examples_uri: str, candidate: Path, baseline: Path, out: Path) -> tfma.ValidationResult:
  """TFX's Evaluator executor on the eval split with the pipeline's eval config: the validation result."""
  def artifact(kind, uri, artifact_id=0):
    item = kind()
    item.uri, item.id = str(uri), artifact_id
    return item
  examples = artifact(standard_artifacts.Examples, examples_uri)
  examples.split_names = '["train", "eval"]'
  outputs = {'evaluation': [artifact(standard_artifacts.ModelEvaluation, out / 'evaluation')],
             'blessing': [artifact(standard_artifacts.ModelBlessing, out / 'blessing')]}
  for [output] in outputs.values():
    Path(output.uri).mkdir(parents=True)
  evaluator_executor.Executor().Do(
      {'examples': [examples], 'model': [artifact(standard_artifacts.Model, candidate, 1)],
       'baseline_model': [artifact(standard_artifacts.Model, baseline, 2)]},
      outputs, {'eval_config': json_format.MessageToJson(eval_config(auc_floor=0.5, compare_to_baseline=True)),
                'example_splits': 'null', 'fairness_indicator_thresholds': 'null'})
  return tfma.load_validation_result(str(out / 'evaluation'))


def test_a_candidate_is_blessed_only_when_its_auc_is_not_below_the_baselines(e2e_run, tmp_path):
  [trained] = (e2e_run[0] / 'pipeline' / 'Trainer' / 'model').iterdir()
  [examples] = (e2e_run[0] / 'pipeline' / 'CsvExampleGen' / 'examples').iterdir()
  worse = degraded_copy(trained / 'Format-Serving', tmp_path / 'worse')
  assert evaluate(str(examples), candidate=trained, baseline=worse, out=tmp_path / 'better').validation_ok
  rejected = evaluate(str(examples), candidate=worse, baseline=trained, out=tmp_path / 'rejected')
  assert not rejected.validation_ok
  [failed] = rejected.metric_validations_per_slice
  [failure] = failed.failures
  assert failure.metric_key.name == 'auc' and failure.metric_key.is_diff  # above the floor, below the baseline
  assert failure.metric_value.double_value.value < -0.05


def test_a_nan_score_makes_the_auc_nan_whether_kept_or_folded():
  from pipeline.evaluation.classifier_metrics import Accumulator  # pylint: disable=g-import-not-at-top
  scored = Accumulator(labels=[1.0, 0.0, 1.0, 0.0], scores=[0.9, 0.1, 0.8, 0.3], weights=[1.0] * 4)
  assert scored.auc(scored.totals()) == 1.0
  unscored = Accumulator(labels=[1.0, 0.0, 1.0, 0.0], scores=[0.9, math.nan, 0.8, 0.3], weights=[1.0] * 4)
  assert math.isnan(unscored.auc(unscored.totals()))
  unscored.folded, unscored.labels, unscored.scores, unscored.weights = unscored.totals(), [], [], []
  assert unscored.folded.unscored == 1 and math.isnan(unscored.auc(unscored.totals()))
  merged = ClassifierMetricsCombiner({}).merge_accumulators([scored, unscored])
  assert math.isnan(merged.auc(merged.totals()))
