"""The Evaluator's baseline in local runs: the newest blessed model other than the one this run trained."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.components.common.resolver import ResolverStrategy

from pipeline import metadata

CURRENT_MODEL_ID = evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY  # ModelBlessing: the model it judged.
BLESSED = evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY  # ModelBlessing: 1 when blessed.


def latest_blessed_other_than(models: List[types.Artifact], blessings: List[types.Artifact],
                              candidates: List[types.Artifact], models_under: str = ''
                              ) -> Tuple[List[types.Artifact], List[types.Artifact]]:
  """The newest model that an Evaluator blessed, leaving out the candidates and models not under models_under (''
  holds all), and that blessing; or ([], [])."""
  blessing_of = {b.get_int_custom_property(CURRENT_MODEL_ID): b for b in blessings
                 if b.get_int_custom_property(BLESSED) == 1}
  excluded = {c.id for c in candidates}
  eligible = [m for m in models if m.id in blessing_of and m.id not in excluded and metadata.under(m.uri, models_under)]
  model = max(eligible, key=lambda m: m.id, default=None)
  return ([model], [blessing_of[model.id]]) if model else ([], [])


class BaselineModel(ResolverStrategy):
  """Resolves `model`: the last blessed model other than this run's `candidate` (nothing before the first).

  A rerun whose Trainer came from the cache thereby evaluates its candidate against the same baseline as the run
  that trained it, so its Evaluator and Pusher come from the cache too, instead of comparing a model with itself.
  TFX gives it the models of this pipeline (by name); models_under narrows them to one pipeline root's (a store
  other output roots share).
  """

  def __init__(self, models_under: str = ''):
    self._models_under = models_under

  def resolve_artifacts(self, store: metadata.Store,
                        input_dict: Dict[str, List[types.Artifact]]) -> Optional[Dict[str, List[types.Artifact]]]:
    model, blessing = latest_blessed_other_than(input_dict['model'], input_dict['model_blessing'],
                                                input_dict['candidate'], self._models_under)
    return {'model': model, 'model_blessing': blessing, 'candidate': input_dict['candidate']}  # TFX needs every key.
