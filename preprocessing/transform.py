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


def numeric(x: RawTensor, log: bool) -> tf.Tensor:
  """float32 values with absent ones imputed by the (log) mean, before any scaling."""
  raw = to_dense(tf.cast(x, tf.float32), float('nan'))
  present = tf.logical_not(tf.math.is_nan(raw))
  values = tf.where(present, raw, 0.0)
  if log:
    values = tf.math.log1p(tf.maximum(values, 0.0))
  mean = tft.mean(tf.boolean_mask(values, present))
  return tf.where(present, values, mean)


def categorical(x: RawTensor) -> tf.Tensor:
  """String categories, with absent values as MISSING_CATEGORY."""
  if isinstance(x, tf.RaggedTensor):
    x = x.to_sparse()
  if x.dtype != tf.string:
    x = (tf.sparse.map_values(tf.strings.as_string, x) if isinstance(x, tf.sparse.SparseTensor)
         else tf.strings.as_string(x))
  return to_dense(x, MISSING_CATEGORY)


def big_tipper(tips: RawTensor, fare: RawTensor) -> tf.Tensor:
  """The label: 1 when the tip exceeds TIP_FRACTION of the fare, 0 otherwise or when either is absent."""
  tips = to_dense(tf.cast(tips, tf.float32), float('nan'))
  fare = to_dense(tf.cast(fare, tf.float32), float('nan'))
  known = tf.logical_not(tf.math.is_nan(tips) | tf.math.is_nan(fare))
  return tf.cast(known & (tips > features.TIP_FRACTION * fare), tf.int64)


def transform_feature(f: Feature, x: RawTensor) -> Dict[str, tf.Tensor]:
  """The transformed features of one raw column, keyed as features.transformed_features() names them."""
  if f.kind == Kind.NUMERIC:
    values = numeric(x, f.log)
    outputs = {f'{f.name}_z': tft.scale_to_z_score(values)}
    if f.buckets:
      outputs[f'{f.name}_bucket'] = tft.bucketize(values, f.buckets)
    return outputs
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
