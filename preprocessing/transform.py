"""The tf.Transform preprocessing_fn, derived from preprocessing/features.py."""
from __future__ import annotations

from typing import Dict, Union

import tensorflow as tf
import tensorflow_transform as tft

from preprocessing import features
from preprocessing.features import Feature, Kind

MISSING_CATEGORY = '__missing__'

RawTensor = Union[tf.Tensor, tf.sparse.SparseTensor, tf.RaggedTensor]


def to_dense(x: RawTensor, default: Union[float, int, str]) -> tf.Tensor:
  """A [batch] tensor from a [batch] or [batch, 1] input; absent values become `default`."""
  if isinstance(x, tf.RaggedTensor):
    x = x.to_sparse()
  if isinstance(x, tf.sparse.SparseTensor):
    x = tf.sparse.to_dense(
        tf.sparse.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]),
        default_value=tf.constant(default, dtype=x.dtype))
  return tf.reshape(x, [-1])


def numeric(f: Feature, x: RawTensor) -> Dict[str, tf.Tensor]:
  """The z-score of a numeric column (of log1p(max(x, 0)) when declared so), and its quantile bucket ids.

  Absent values take the mean of the present ones: z-score 0, and the mean's bucket. Every analyzer reads the
  present values only, never another analyzer's output, so tf.Transform analyzes all columns in one pass.
  """
  raw = to_dense(tf.cast(x, tf.float32), float('nan'))
  present = tf.logical_not(tf.math.is_nan(raw))
  values = tf.where(present, raw, 0.0)
  if f.log:
    values = tf.math.log1p(tf.maximum(values, 0.0))
  observed = tf.boolean_mask(values, present)
  mean, variance = tft.mean(observed), tft.var(observed)
  filled = tf.where(present, values, mean)
  std = tf.sqrt(variance)
  outputs = {f'{f.name}_z': tf.where(std > 0.0, (filled - mean) / std, 0.0)}
  if f.buckets:
    boundaries = tft.quantiles(observed, f.buckets, epsilon=min(1.0 / f.buckets, 0.01))
    outputs[f'{f.name}_bucket'] = tft.apply_buckets(filled, boundaries)
  return outputs


def categorical(x: RawTensor) -> tf.Tensor:
  """String categories, with absent values as MISSING_CATEGORY."""
  if isinstance(x, tf.RaggedTensor):
    x = x.to_sparse()
  if x.dtype != tf.string:
    x = (tf.sparse.map_values(tf.strings.as_string, x) if isinstance(x, tf.sparse.SparseTensor)
         else tf.strings.as_string(x))
  return to_dense(x, MISSING_CATEGORY)


def value_ids(x: RawTensor, low: int, high: int) -> tf.Tensor:
  """Integer categories as ids without a vocabulary: value - low, and high - low + 1 outside [low, high] or absent."""
  values = to_dense(tf.cast(x, tf.int64), low - 1)
  return tf.where((values >= low) & (values <= high), values - low, high - low + 1)


def big_tipper(tips: RawTensor, fare: RawTensor) -> tf.Tensor:
  """The label: 1 when the tip exceeds TIP_FRACTION of the fare, 0 otherwise or when either is absent."""
  tips = to_dense(tf.cast(tips, tf.float32), float('nan'))
  fare = to_dense(tf.cast(fare, tf.float32), float('nan'))
  known = tf.logical_not(tf.math.is_nan(tips) | tf.math.is_nan(fare))
  return tf.cast(known & (tips > features.TIP_FRACTION * fare), tf.int64)


def transform_feature(f: Feature, x: RawTensor) -> Dict[str, tf.Tensor]:
  """The transformed features of one raw column, keyed as features.transformed_features() names them."""
  if f.kind == Kind.NUMERIC:
    return numeric(f, x)
  if f.kind == Kind.CATEGORICAL and f.id_range:
    return {f'{f.name}_id': value_ids(x, *f.id_range)}
  if f.kind == Kind.CATEGORICAL:
    ids = tft.compute_and_apply_vocabulary(
        categorical(x), top_k=f.top_k, num_oov_buckets=f.oov_buckets,
        vocab_filename=features.vocabulary_name(f.name))
    return {f'{f.name}_id': ids}
  return {}


def hashed_cross(parts: list, hash_buckets: int) -> tf.Tensor:
  """Hash bucket ids of the joined string form of several id tensors."""
  joined = tf.strings.join([tf.strings.as_string(p) for p in parts], separator='_x_')
  return tf.strings.to_hash_bucket_fast(joined, hash_buckets)


def preprocessing_fn(inputs: Dict[str, RawTensor]) -> Dict[str, tf.Tensor]:
  """tf.Transform entry point: raw columns in, model inputs and the label out."""
  outputs: Dict[str, tf.Tensor] = {}
  for f in features.FEATURES:
    outputs.update(transform_feature(f, inputs[f.name]))
  for cross in features.CROSSES:
    outputs[cross.name] = hashed_cross([outputs[k] for k in cross.keys], cross.hash_buckets)
  outputs[features.LABEL_KEY] = big_tipper(inputs[features.TIPS], inputs[features.FARE])
  return outputs
