"""The folded model (models/folding.py) scores every example as the Keras model does, with none, one or three hidden
layers and with any crosses."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from models import folding
from models.contract import COLUMN_SUFFIX, DEEP_INPUTS, EMBEDDING_SUFFIX, WIDE_SUFFIX
from models.model import DECLARED_CROSSES, HParams, build_model
from test_model import cardinalities, synthetic_batch


def trained(hparams: HParams):
  """A model trained a few steps, so that no weight is still its initial value (wide weights start at zero)."""
  model = build_model(cardinalities(), hparams)
  x, y = synthetic_batch(256)
  model.fit(x, y, batch_size=64, epochs=2, verbose=0)
  return model


@pytest.mark.parametrize('hparams', [
    HParams(),
    HParams(hidden_units=(32, 16, 8), crosses=('payment_x_fare', 'hour_x_weekday', 'pickup_x_dropoff_area',
                                               'pickup_x_dropoff_cell'), max_embedding_dim=4),
    HParams(hidden_units=(), crosses=()),
], ids=['defaults', 'three-layers-every-cross', 'no-hidden-layer-no-cross'])
def test_folded_scores_are_the_keras_models(hparams):
  model = trained(hparams)
  x, _ = synthetic_batch(300, seed=1)
  expected = model.predict(x, batch_size=300, verbose=0)
  folded = folding.FoldedScorer(model)
  np.testing.assert_allclose(folded({k: tf.constant(v) for k, v in x.items()}).numpy(), expected, atol=2e-6)
  used = {k for k in cardinalities() if k not in DECLARED_CROSSES or k in hparams.crosses}
  assert set(folded.id_keys) == used  # the crosses the model leaves out are not looked up


def test_the_table_has_a_row_per_id_of_each_used_input_and_a_column_per_unit_plus_the_wide_weight():
  model = trained(HParams(hidden_units=(8,), crosses=('payment_x_fare',)))
  folded = folding.fold(model)
  assert folded.table.shape == (sum(cardinalities()[k] for k in folded.id_keys), 8 + 1)
  assert list(folded.offsets) == list(np.cumsum([0] + [cardinalities()[k] for k in folded.id_keys[:-1]]))
  assert folded.numeric_kernel.shape == (7, 8)


def test_a_model_whose_deep_inputs_are_not_one_column_or_one_embedding_each_is_refused():
  pair, ids = keras.Input(shape=(2,), name='pair'), keras.Input(shape=(), name='ids', dtype=tf.int64)
  deep = keras.layers.concatenate([keras.layers.Reshape((2,), name='pair' + COLUMN_SUFFIX)(pair),
                                   keras.layers.Embedding(5, 3, name='ids' + EMBEDDING_SUFFIX)(ids)], name=DEEP_INPUTS)
  logit = keras.layers.Add()([keras.layers.Dense(1)(deep), keras.layers.Embedding(5, 1, name='ids' + WIDE_SUFFIX)(ids)])
  with pytest.raises(ValueError, match='first Dense layer has 5 input rows and the deep inputs 4 columns'):
    folding.fold(keras.Model([pair, ids], logit))
