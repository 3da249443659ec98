"""The search space of the Tuner, declared beside HParams, and the conversions between tuned values and HParams.

Every searched hyperparameter is a declaration whose default is HParams' own, so an untuned run and trial 0 of a
search train the same model. The deep tower is searched as a width and a depth: layer i has width / 2**i units
(at least MIN_UNITS): (128, 64, 32) is width 128, depth 3. The embedding cap is searched up to the
widest embedding the rule in models/model.py gives any feature whose cardinality is declared in
preprocessing/features.py. Each cross declared there is searched as whether the model uses it (on this sample's
few thousand rows, the wide crosses of thousands of hash buckets mostly learn noise). Their hash-bucket counts are
Transform's, not the model's: changing them means another Transform, so they are not searched here.

No TensorFlow or KerasTuner at import: the Trainer and the reports read tuned values as plain dicts.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Sequence, Tuple, Union

from models.model import DECLARED_CROSSES, HParams, embedding_dim
from preprocessing import features
from preprocessing.features import Output

MIN_UNITS = 8
Value = Union[bool, int, float]


@dataclasses.dataclass(frozen=True)
class Searched:
  """One searched hyperparameter: a name, its choices (in order) and its default."""
  name: str
  choices: Tuple[Value, ...]
  default: Value

  def __post_init__(self):
    if self.default not in self.choices:
      raise ValueError(f'{self.name}: the default {self.default} is not among the choices {self.choices}')


def tower_units(width: int, depth: int) -> Tuple[int, ...]:
  """The deep tower's layer widths: width, then halving, at least MIN_UNITS each."""
  return tuple(max(MIN_UNITS, width // 2 ** i) for i in range(depth))


def tower_shape(hidden_units: Sequence[int]) -> Tuple[int, int]:
  """(width, depth) of a halving tower; ValueError for a tower that is not one."""
  width, depth = (hidden_units[0], len(hidden_units)) if hidden_units else (0, 0)
  if tuple(hidden_units) != tower_units(width, depth):
    raise ValueError(f'hidden_units {tuple(hidden_units)} is not a halving tower: the search cannot express it')
  return width, depth


def widest_embedding() -> int:
  """The widest embedding the fourth-root rule gives a feature whose cardinality is declared."""
  declared = [spec.cardinality for spec in features.transformed_features() if spec.output == Output.IDS
              and spec.cardinality]
  return embedding_dim(max(declared), max_dim=1 << 30)


def uses_cross(cross: str) -> str:
  """The name of the searched choice whether the model uses a declared cross."""
  return f'uses_{cross}'


def declarations(defaults: HParams = HParams()) -> Tuple[Searched, ...]:
  """The searched hyperparameters, with the defaults taken from HParams."""
  width, depth = tower_shape(defaults.hidden_units)
  widest = widest_embedding()
  return (
      Searched('learning_rate', (3e-4, 1e-3, 3e-3, 1e-2), defaults.learning_rate),
      Searched('width', (32, 64, 128, 256), width),
      Searched('depth', (1, 2, 3, 4), depth),
      Searched('max_embedding_dim', tuple(sorted({d for d in (4, 8, 16, 32) if d < widest} | {widest})),
               defaults.max_embedding_dim),
      Searched('dropout', (0.0, 0.1, 0.2, 0.3, 0.5), defaults.dropout),
      Searched('l2', (0.0, 1e-4, 1e-3, 1e-2), defaults.l2),
      Searched('batch_size', (64, 128, 256), defaults.batch_size),
  ) + tuple(Searched(uses_cross(cross), (False, True), cross in defaults.crosses) for cross in DECLARED_CROSSES)


def default_values(defaults: HParams = HParams()) -> Dict[str, Value]:
  """The searched names with their default values."""
  return {d.name: d.default for d in declarations(defaults)}


def search_space(defaults: HParams = HParams()):
  """The declarations as a KerasTuner HyperParameters (one Choice each, default first tried)."""
  import keras_tuner  # pylint: disable=g-import-not-at-top  (Keras 3: only the Tuner needs it)
  space = keras_tuner.HyperParameters()
  for d in declarations(defaults):
    space.Choice(d.name, list(d.choices), ordered=not isinstance(d.default, bool), default=d.default)
  return space


def to_hparams(values: Mapping[str, Any], base: HParams = HParams()) -> HParams:
  """base with what searched values (a tuned HyperParameters' 'values') name replaced; other keys are ignored."""
  width, depth = tower_shape(base.hidden_units)
  tower = tower_units(int(values.get('width', width)), int(values.get('depth', depth)))
  crosses = tuple(c for c in DECLARED_CROSSES if values.get(uses_cross(c), c in base.crosses))
  fields = {f.name for f in dataclasses.fields(HParams)} - {'hidden_units', 'crosses'}
  return dataclasses.replace(base, hidden_units=tower, crosses=crosses,
                             **{k: v for k, v in values.items() if k in fields})


def tuned_values(hyperparameters: Mapping[str, Any] | None) -> Dict[str, Any]:
  """The values of a best_hyperparameters config (what TFX hands run_fn as fn_args.hyperparameters), or {}."""
  return dict((hyperparameters or {}).get('values', {}))


def trainer_hparams(hyperparameters: Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> HParams:
  """The Trainer's HParams: the declared defaults, then the tuned values, then the custom_config overrides."""
  tuned = to_hparams(tuned_values(hyperparameters))
  return HParams.from_config({**dataclasses.asdict(tuned), **overrides})
