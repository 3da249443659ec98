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


def present_values(x: RawTensor, clip_at_zero: bool) -> tf.Tensor:
  """float32 values of a numeric column (max(x, 0) when clipped), NaN where absent."""
  values = to_dense(tf.cast(x, tf.float32), float('nan'))
  return tf.maximum(values, 0.0) if clip_at_zero else values  # NaN stays NaN.


def numeric_features(inputs: Dict[str, RawTensor]) -> Dict[str, tf.Tensor]:
  """The z-score of every numeric column (of log1p(max(x, 0)) where declared), and its quantile bucket ids where
  declared.

  Buckets are cut on the values before the log: a comparison with a boundary is exact, while log1p's last bit
  differs between a batch and a single row (vectorised and scalar code), which moved a value lying on a boundary to
  the next bucket and changed a row's score with the batch it was scored in. The log is monotonic, so the buckets
  are the same quantiles. Absent values take the mean of the present ones: z-score 0, and the mean's bucket. The
  analyzers work on all numeric columns at once (tf.Transform's mean, var and quantiles ignore NaN, column by
  column): a handful of analyzers instead of three per column, which on the DirectRunner saves about a third of
  Transform's time. Every analyzer reads raw values only, never another analyzer's output, so the data is analyzed
  in one pass.
  """
  numerics = features.by_kind(Kind.NUMERIC)
  logged = tf.constant([f.log for f in numerics])
  raw = tf.stack([present_values(inputs[f.name], f.log) for f in numerics], axis=1)
  values = tf.where(logged, tf.math.log1p(raw), raw)
  mean = tft.mean(values, reduce_instance_dims=False)
  std = tf.sqrt(tft.var(values, reduce_instance_dims=False))
  filled = tf.where(tf.math.is_nan(values), mean, values)
  z_scores = tf.where(std > 0.0, (filled - mean) / tf.where(std > 0.0, std, 1.0), 0.0)
  outputs = {f'{f.name}_z': z_scores[:, i] for i, f in enumerate(numerics)}
  raw_filled = tf.where(tf.math.is_nan(raw), tf.where(logged, tf.math.expm1(mean), mean), raw)
  for buckets in sorted({f.buckets for f in numerics if f.buckets}):
    columns = [i for i, f in enumerate(numerics) if f.buckets == buckets]
    boundaries = tft.quantiles(tf.gather(raw, columns, axis=1), buckets, epsilon=min(1.0 / buckets, 0.01),
                               reduce_instance_dims=False)
    for row, i in enumerate(columns):
      outputs[f'{numerics[i].name}_bucket'] = tft.apply_buckets(raw_filled[:, i], boundaries[row:row + 1])
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


def categorical_feature(f: Feature, x: RawTensor) -> Dict[str, tf.Tensor]:
  """The ids of one categorical column, keyed as features.transformed_features() names them."""
  if f.id_range:
    return {f'{f.name}_id': value_ids(x, *f.id_range)}
  ids = tft.compute_and_apply_vocabulary(
      categorical(x), top_k=f.top_k, num_oov_buckets=f.oov_buckets,
      vocab_filename=features.vocabulary_name(f.name))
  return {f'{f.name}_id': ids}


def hashed_cross(parts: list, hash_buckets: int) -> tf.Tensor:
  """Hash bucket ids of the joined string form of several id tensors."""
  joined = tf.strings.join([tf.strings.as_string(p) for p in parts], separator='_x_')
  return tf.strings.to_hash_bucket_fast(joined, hash_buckets)


def preprocessing_fn(inputs: Dict[str, RawTensor]) -> Dict[str, tf.Tensor]:
  """tf.Transform entry point: raw columns in, model inputs and the label out."""
  outputs = numeric_features(inputs)
  for f in features.by_kind(Kind.CATEGORICAL):
    outputs.update(categorical_feature(f, inputs[f.name]))
  for cross in features.CROSSES:
    outputs[cross.name] = hashed_cross([outputs[k] for k in cross.keys], cross.hash_buckets)
  outputs[features.LABEL_KEY] = big_tipper(*(inputs[name] for name in features.label_columns()))
  return outputs
