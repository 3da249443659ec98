"""Which model scores the inference data in local runs: this run's model when its Evaluator blessed it, else the
pipeline's currently pushed model (found through ML Metadata, as the drift gate finds it)."""
from __future__ import annotations

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common.resolver import ResolverStrategy

from pipeline import metadata
from pipeline.evaluation.baseline import BLESSED


class NoModelToScoreError(RuntimeError):
  """Neither this run's model was blessed nor was any model pushed before: nothing can score the inference data."""


def pushed_model_id(store: metadata.Store, pipeline_name: str = '', pushed_under: str = '') -> Optional[int]:
  """The Model artifact behind the pipeline's newest push (of a run under pushed_under, when given), or None."""
  for pushed in metadata.pushed_models(store, pipeline_name, pushed_under):
    models = metadata.producer_inputs(store, pushed.id, 'model')
    if models:
      return models[-1]
  return None


def blessed(blessings: List[types.Artifact]) -> bool:
  """Whether this run's Evaluator blessed its candidate."""
  return any(b.get_int_custom_property(BLESSED) == 1 for b in blessings)


class InferenceModel(ResolverStrategy):
  """Resolves `model`: this run's `candidate` when `blessing` blessed it, else the currently pushed model.

  NoModelToScoreError (the run fails, saying so) when this run's model was not blessed and nothing was pushed.
  """

  def __init__(self, pipeline_name: str = '', pushed_under: str = ''):
    self._pipeline_name = pipeline_name
    self._pushed_under = pushed_under

  def resolve_artifacts(self, store: metadata.Store,
                        input_dict: Dict[str, List[types.Artifact]]) -> Optional[Dict[str, List[types.Artifact]]]:
    candidates, blessings = input_dict['candidate'], input_dict['blessing']
    if candidates and blessed(blessings):
      chosen = candidates[:1]
    else:
      wanted = pushed_model_id(store, self._pipeline_name, self._pushed_under)
      chosen = [a for a in input_dict['model'] if a.id == wanted][:1]
    if not chosen:
      raise NoModelToScoreError(
          'no model to score the inference data: this run\'s model was not blessed and no model of this pipeline '
          'was pushed before; nothing was scored')
    return {'model': chosen, 'candidate': candidates, 'blessing': blessings}  # TFX needs every key.
