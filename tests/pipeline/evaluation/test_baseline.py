"""The local baseline: the newest blessed model other than this run's candidate."""
from tfx.types import standard_artifacts

from pipeline.evaluation.baseline import latest_blessed_other_than


def blessing(model_id, blessed):
  artifact = standard_artifacts.ModelBlessing()
  artifact.set_int_custom_property('current_model_id', model_id)
  artifact.set_int_custom_property('blessed', int(blessed))
  return artifact


def model(model_id, uri=''):
  artifact = standard_artifacts.Model()
  artifact.id = model_id
  artifact.uri = uri
  return artifact


def test_the_baseline_is_the_newest_blessed_model_other_than_the_candidate():
  models = [model(1), model(2), model(3)]
  blessings = [blessing(1, True), blessing(2, True), blessing(3, False)]
  baseline, its_blessing = latest_blessed_other_than(models, blessings, candidates=[model(3)])
  assert [m.id for m in baseline] == [2] and its_blessing == [blessings[1]]
  baseline, _ = latest_blessed_other_than(models, blessings, candidates=[model(2)])  # a cached rerun of model 2
  assert [m.id for m in baseline] == [1]
  assert latest_blessed_other_than(models, blessings[2:], candidates=[model(3)]) == ([], [])


def test_with_a_shared_store_only_models_under_this_root_are_baselines():
  models = [model(1, '/team/alice/pipeline/Trainer/model/1'), model(2, '/team/bob/pipeline/Trainer/model/2'),
            model(3, '/team/alice/pipeline/Trainer/model/3')]
  blessings = [blessing(1, True), blessing(2, True), blessing(3, False)]
  baseline, _ = latest_blessed_other_than(models, blessings, [models[2]], models_under='/team/alice/pipeline')
  assert [m.id for m in baseline] == [1]
  assert latest_blessed_other_than(models, blessings, [models[2]], models_under='/team/al') == ([], [])
  baseline, _ = latest_blessed_other_than(models, blessings, [models[2]])  # the root's own store: every model
  assert [m.id for m in baseline] == [2]
