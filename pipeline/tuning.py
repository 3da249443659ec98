"""The Trainer's hyperparameters in runs without --tune: those of the newest completed tuning of this pipeline."""
from __future__ import annotations

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common.resolver import ResolverStrategy

from pipeline import metadata


def newest_under(artifacts: List[types.Artifact], under: str = '') -> List[types.Artifact]:
  """The newest artifact (highest id) whose URI lies under `under` ('' holds all), as a list of at most one."""
  eligible = [a for a in artifacts if metadata.under(a.uri, under)]
  return [max(eligible, key=lambda a: a.id)] if eligible else []


class LatestTunedHyperParameters(ResolverStrategy):
  """Resolves `hyperparameters`: the best_hyperparameters of this pipeline's newest completed Tuner, or nothing.

  TFX hands it the HyperParameters artifacts of this pipeline (by name), which only a completed Tuner publishes;
  hyperparameters_under narrows them to one pipeline root's (a store other output roots share). With nothing
  resolved the Trainer has no hyperparameters input and trains with the defaults declared in models/.
  """

  def __init__(self, hyperparameters_under: str = ''):
    self._under = hyperparameters_under

  def resolve_artifacts(self, store: metadata.Store,
                        input_dict: Dict[str, List[types.Artifact]]) -> Optional[Dict[str, List[types.Artifact]]]:
    return {'hyperparameters': newest_under(input_dict['hyperparameters'], self._under)}
