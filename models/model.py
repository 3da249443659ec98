"""The wide & deep Keras model over the transformed features."""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Mapping, Optional, Tuple, Union

import tensorflow as tf
import tf_keras as keras

from models.contract import COLUMN_SUFFIX, DEEP_INPUTS, EMBEDDING_SUFFIX, PREDICTION_KEY, WIDE_SUFFIX
from preprocessing import features
from preprocessing.features import Output


DECLARED_CROSSES = tuple(cross.name for cross in features.CROSSES)


@dataclasses.dataclass(frozen=True)
class HParams:
  """Model and optimisation settings; the Trainer's custom_config may override any of them.

  The defaults are the winner of `python -m benchmarks.search_defaults` (40 trials of models/hyperparameters.py's
  space, seeded with `seed`, on the shipped sample less its held-back rows; README, Tuning).
  """
  hidden_units: Tuple[int, ...] = (64,)
  # The declared crosses the model uses; Transform makes them all.
  crosses: Tuple[str, ...] = ('payment_x_fare',)
  max_embedding_dim: int = 44
  dropout: float = 0.5
  l2: float = 1e-2  # on embedding and wide weights.
  learning_rate: float = 1e-2  # at the first step; it decays to zero over the training steps (learning_rate()).
  batch_size: int = 64
  # Weights, dropout and shuffling: reruns on the same data train the same model, up to the fourth decimal of its AUC
  # (most likely the order of TensorFlow's threaded float sums).
  seed: int = 42

  def __post_init__(self):
    unknown = sorted(set(self.crosses) - set(DECLARED_CROSSES))
    if unknown:
      raise ValueError(f'crosses {unknown} are not declared in preprocessing/features.py (declared: '
                       f'{list(DECLARED_CROSSES)})')

  @classmethod
  def from_config(cls, config: Mapping[str, object]) -> 'HParams':
    """HParams with the fields named in a config mapping replaced; other keys are ignored."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in config.items() if k in names}
    for name in ('hidden_units', 'crosses'):
      if name in values:
        values[name] = tuple(values[name])
    return cls(**values)


class WideAndDeep(keras.Model):
  """A functional Keras model whose train/test/predict steps skip AutoGraph.

  AutoGraph re-converts Keras's own step code from source on every tracing, which costs 10-30 s on a
  2-core machine before the first batch; these steps have no data-dependent Python control flow to convert.
  The functions Keras wraps around one step (reducing over replicas, the metrics' results) skip it too when a call
  runs a single step, and so do the metrics' results that fit and evaluate read at their end: about 0.8 s of
  conversion per fit here.
  """

  def one_step_tf_function(self, function: Callable) -> bool:
    """Whether Keras made function a tf.function this process calls (not eager, no cluster coordinator's lambda)
    that runs one step per call."""
    return (isinstance(function, tf.types.experimental.PolymorphicFunction) and not self.autotune_steps_per_execution
            and (self.steps_per_execution is None or int(self.steps_per_execution.numpy()) == 1))

  @tf.autograph.experimental.do_not_convert
  def get_metrics_result(self):
    """Keras's metric results, read eagerly at the end of fit and evaluate."""
    return super().get_metrics_result()

  def make_train_function(self, force=False):
    """Keras's train function, without AutoGraph when it runs one step per call."""
    if self.train_function is None or force:
      function = super().make_train_function(force)
      if self.one_step_tf_function(function):
        self.train_function = self.train_tf_function = without_autograph(function)
    return self.train_function

  def make_test_function(self, force=False):
    """Keras's test function, without AutoGraph when it runs one step per call."""
    if self.test_function is None or force:
      function = super().make_test_function(force)
      if self.one_step_tf_function(function):
        self.test_function = self.test_tf_function = without_autograph(function)
    return self.test_function

  @tf.autograph.experimental.do_not_convert
  def train_step(self, data):
    return super().train_step(data)

  @tf.autograph.experimental.do_not_convert
  def test_step(self, data):
    return super().test_step(data)

  @tf.autograph.experimental.do_not_convert
  def predict_step(self, data):
    return super().predict_step(data)


def without_autograph(function: tf.types.experimental.PolymorphicFunction) -> tf.types.experimental.PolymorphicFunction:
  """The same tf.function (reduce_retracing, as Keras makes it) with AutoGraph off: its Python runs as written."""
  return tf.function(function.python_function, reduce_retracing=True, autograph=False)


def embedding_dim(cardinality: int, max_dim: int) -> int:
  """The usual fourth-root rule of thumb for embedding width, capped."""
  return max(2, min(max_dim, int(round(6 * cardinality ** 0.25))))


def learning_rate(hparams: HParams,
                  decay_steps: Optional[int]) -> Union[float, keras.optimizers.schedules.LearningRateSchedule]:
  """hparams.learning_rate falling to zero along a cosine over decay_steps steps, or constant without decay_steps.

  The decay is what makes a trained model depend on its data rather than on where the last steps happened to leave
  it: with a constant rate, models of two seeds differed in AUC by up to 0.003; decayed, by at most 0.0004 (and the
  mean was higher; README, Tuning).
  """
  if not decay_steps:
    return hparams.learning_rate
  return keras.optimizers.schedules.CosineDecay(hparams.learning_rate, decay_steps)


def build_model(cardinalities: Mapping[str, int], hparams: HParams = HParams(),
                decay_steps: Optional[int] = None) -> keras.Model:
  """A compiled wide & deep binary classifier taking the transformed features by key (the crosses that
  hparams.crosses leaves out are inputs it does not use).

  Args:
    cardinalities: number of distinct ids of every categorical transformed feature.
    hparams: model and optimiser settings.
    decay_steps: the steps it will train for, over which the learning rate decays (None: a constant rate).
  """
  inputs: Dict[str, keras.Input] = {}
  deep, wide = [], []
  unused = set(DECLARED_CROSSES) - set(hparams.crosses)
  for spec in features.transformed_features():
    dtype = tf.float32 if spec.output == Output.DENSE else tf.int64
    inputs[spec.key] = keras.Input(shape=(), name=spec.key, dtype=dtype)
    if spec.key in unused:  # an input all the same: every model takes the same transformed features.
      continue
    if spec.output == Output.DENSE:
      deep.append(keras.layers.Reshape((1,), name=spec.key + COLUMN_SUFFIX)(inputs[spec.key]))
    else:
      size = cardinalities[spec.key]
      regularizer = keras.regularizers.l2(hparams.l2) if hparams.l2 else None
      deep.append(keras.layers.Embedding(size, embedding_dim(size, hparams.max_embedding_dim),
                                         embeddings_regularizer=regularizer,
                                         name=spec.key + EMBEDDING_SUFFIX)(inputs[spec.key]))
      wide.append(keras.layers.Embedding(size, 1, embeddings_regularizer=regularizer,
                                         name=spec.key + WIDE_SUFFIX)(inputs[spec.key]))
  hidden = keras.layers.concatenate(deep, name=DEEP_INPUTS)
  for i, units in enumerate(hparams.hidden_units):
    hidden = keras.layers.Dense(units, activation='relu', name=f'deep_{i}')(hidden)
    if hparams.dropout:
      hidden = keras.layers.Dropout(hparams.dropout, name=f'dropout_{i}')(hidden)
  logit = keras.layers.Add(name='logit')([keras.layers.Dense(1, name='deep_logit')(hidden)] + wide)
  probability = keras.layers.Activation('sigmoid', name=PREDICTION_KEY)(logit)
  model = WideAndDeep(inputs=inputs, outputs=probability, name='wide_and_deep')
  model.compile(optimizer=keras.optimizers.Adam(learning_rate(hparams, decay_steps)),
                loss=keras.losses.BinaryCrossentropy(),
                metrics=[keras.metrics.AUC(name='auc'), keras.metrics.BinaryAccuracy(name='accuracy')])
  # The optimizer's variables now, not in the first step: a tf.function that creates variables is traced twice.
  model.optimizer.build(model.trainable_variables)
  return model
