"""The Keras model builds from the feature declarations and learns."""
import numpy as np
import tensorflow as tf

from models.model import PREDICTION_KEY, HParams, WideAndDeep, build_model, embedding_dim, learning_rate
from preprocessing import features
from preprocessing.features import Output

VOCABULARY_SIZE = 12


def cardinalities():
  return {s.key: s.cardinality or VOCABULARY_SIZE + s.oov_buckets
          for s in features.transformed_features() if s.output == Output.IDS}


def synthetic_batch(rows: int, seed: int = 0):
  """Transformed-looking features whose label depends on payment_type_id and fare_z."""
  rng = np.random.default_rng(seed)
  x = {}
  for spec in features.transformed_features():
    if spec.output == Output.DENSE:
      x[spec.key] = rng.normal(size=rows).astype(np.float32)
    else:
      x[spec.key] = rng.integers(0, cardinalities()[spec.key], size=rows).astype(np.int64)
  y = ((x['payment_type_id'] % 2 == 0) & (x['fare_z'] > -0.5)).astype(np.int64)
  return x, y


def test_model_takes_every_transformed_feature():
  model = build_model(cardinalities())
  assert isinstance(model, WideAndDeep)
  assert set(model.input_names) == {s.key for s in features.transformed_features()}
  assert model.output_names == [PREDICTION_KEY]


def test_training_lowers_the_loss_without_nans():
  model = build_model(cardinalities(), HParams(hidden_units=(32, 16), batch_size=64))
  x, y = synthetic_batch(2048)
  before = model.evaluate(x, y, verbose=0, return_dict=True)['loss']
  history = model.fit(x, y, batch_size=64, epochs=3, verbose=0)
  after = model.evaluate(x, y, verbose=0, return_dict=True)['loss']
  assert all(np.isfinite(history.history['loss']))
  assert after < before * 0.8
  probabilities = model.predict(synthetic_batch(256, seed=1)[0], verbose=0)
  assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_fit_and_evaluate_run_keras_code_without_autograph(monkeypatch):
  """WideAndDeep's train and test functions and its metrics' results run as written: AutoGraph converting them
  only cost time (about 0.8 s per fit)."""
  from tensorflow.python.autograph.impl import api as autograph_api  # its conversion entry point, to count calls.
  converted = []
  convert = autograph_api._convert_actual

  def counting(entity, program_ctx):
    converted.append(f'{entity.__module__}.{entity.__qualname__}')
    return convert(entity, program_ctx)

  monkeypatch.setattr(autograph_api, '_convert_actual', counting)
  model = build_model(cardinalities())
  x, y = synthetic_batch(256)
  dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
  model.fit(dataset, epochs=1, validation_data=dataset, verbose=0)
  model.evaluate(dataset, verbose=0)
  assert [name for name in converted if name.startswith('tf_keras')] == []


def test_learning_rate_decays_to_zero_over_the_training_steps():
  hparams = HParams(learning_rate=0.01)
  assert learning_rate(hparams, None) == 0.01
  schedule = learning_rate(hparams, 400)
  assert abs(float(schedule(0)) - 0.01) < 1e-9
  assert 0.0049 < float(schedule(200)) < 0.0051
  assert float(schedule(400)) == 0.0


def test_the_last_step_of_training_takes_the_decayed_rate():
  hparams = HParams(batch_size=64)
  model = build_model(cardinalities(), hparams, decay_steps=8)
  x, y = synthetic_batch(512)
  model.fit(x, y, batch_size=64, epochs=1, verbose=0)
  assert int(model.optimizer.iterations) == 8
  last_rate = float(model.optimizer.learning_rate)  # the rate of the last step, step 7.
  assert abs(last_rate - float(learning_rate(hparams, 8)(7))) < 1e-9
  assert last_rate < 0.05 * hparams.learning_rate


def test_hparams_from_config_ignores_unknown_keys():
  hparams = HParams.from_config({'hidden_units': [8], 'batch_size': 32, 'code_sha256': 'abc'})
  assert hparams.hidden_units == (8,) and hparams.batch_size == 32


def test_embedding_width_grows_slowly_and_is_capped():
  assert embedding_dim(3, 16) < embedding_dim(300, 16) <= 16
  assert embedding_dim(10**6, 16) == 16
  assert tf.keras.__name__.startswith('tf_keras')
