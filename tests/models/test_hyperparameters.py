"""The search space: declared beside HParams, its defaults HParams' own, every value builds and trains."""
import dataclasses
import math

import numpy as np
import pytest

from models import hyperparameters
from models.model import DECLARED_CROSSES, HParams, build_model
from test_model import cardinalities, synthetic_batch


def test_the_defaults_are_hparams_defaults_and_round_trip():
  values = hyperparameters.default_values()
  assert hyperparameters.to_hparams(values) == HParams()
  assert hyperparameters.search_space().values == values  # KerasTuner's defaults: trial 0 of a search.


def test_tuned_values_replace_the_defaults_and_overrides_win():
  tuned = {'values': {'width': 64, 'depth': 2, 'learning_rate': 0.003, 'dropout': 0.0}}
  hparams = hyperparameters.trainer_hparams(tuned, {'batch_size': 32})
  assert hparams == dataclasses.replace(HParams(), hidden_units=(64, 32), learning_rate=0.003, dropout=0.0,
                                        batch_size=32)
  assert hyperparameters.trainer_hparams(None, {}) == HParams()


def test_a_tower_the_search_cannot_express_is_refused():
  assert hyperparameters.tower_units(32, 4) == (32, 16, 8, 8)
  with pytest.raises(ValueError, match='not a halving tower'):
    hyperparameters.tower_shape((64, 64))


def test_the_embedding_cap_reaches_the_widest_declared_feature():
  choices = {d.name: d.choices for d in hyperparameters.declarations()}['max_embedding_dim']
  assert max(choices) == hyperparameters.widest_embedding() > 32
  assert HParams().max_embedding_dim in choices


def test_a_cross_left_out_is_an_input_the_model_does_not_use():
  left_out, *kept = DECLARED_CROSSES
  hparams = hyperparameters.to_hparams({hyperparameters.uses_cross(c): c != left_out for c in DECLARED_CROSSES})
  assert hparams.crosses == tuple(kept)
  model = build_model(cardinalities(), hparams)
  layers = {layer.name for layer in model.layers}
  assert left_out in model.input and not {f'{left_out}_wide', f'{left_out}_embedding'} & layers
  assert all({f'{c}_wide', f'{c}_embedding'} <= layers for c in kept)
  with pytest.raises(ValueError, match="'no_such_cross'"):
    HParams(crosses=('no_such_cross',))


def every_single_change():
  """The defaults with one searched value changed, for every value of every declaration."""
  for d in hyperparameters.declarations():
    for choice in d.choices:
      yield pytest.param({**hyperparameters.default_values(), d.name: choice}, id=f'{d.name}={choice}')


@pytest.mark.parametrize('values', list(every_single_change()))
def test_every_value_builds_and_trains_one_step(values):
  hparams = hyperparameters.to_hparams(values)
  model = build_model(cardinalities(), hparams)
  assert [model.get_layer(f'deep_{i}').units for i in range(len(hparams.hidden_units))] == list(hparams.hidden_units)
  x, y = synthetic_batch(hparams.batch_size)
  loss = model.train_on_batch(x, y)
  assert all(math.isfinite(v) for v in np.atleast_1d(loss))
