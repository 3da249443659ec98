"""TF Serving's warm-up requests, written into the exported SavedModel (WARMUP_FILE).

TF Serving replays the PredictionLog records of <version>/assets.extra/tf_serving_warmup_requests when it loads a
version and serves it only afterwards, so the first real requests do not pay for the lazy initialisation of the
graph (the Transform graph's vocabularies and tables among it). The requests are real: the first few training
examples, with only the columns a serving request carries.
"""
from __future__ import annotations

import os
from typing import List, Sequence

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from models.contract import SERVING_INPUT, SERVING_SIGNATURE, WARMUP_FILE
from preprocessing.examples import serving_example

WARMUP_REQUESTS = 5  # one example each: enough to run every op once, and a fraction of a second of start-up.


def sample_examples(file_patterns: Sequence[str], count: int = WARMUP_REQUESTS) -> List[bytes]:
  """The first count serialized raw examples of the (gzipped when named *.gz) TFRecord files, serving columns only."""
  files = sorted(path for pattern in file_patterns for path in tf.io.gfile.glob(pattern))
  examples: List[bytes] = []
  for path in files:
    records = tf.data.TFRecordDataset(path, compression_type='GZIP' if path.endswith('.gz') else '')
    examples += [serving_example(record.numpy()) for record in records.take(count - len(examples))]
    if len(examples) == count:
      break
  return examples


def predict_log(serialized_examples: Sequence[bytes]) -> prediction_log_pb2.PredictionLog:
  """A PredictionLog holding the PredictRequest that the serving signature answers for these examples."""
  request = predict_pb2.PredictRequest()
  request.model_spec.signature_name = SERVING_SIGNATURE
  request.inputs[SERVING_INPUT].CopyFrom(tf.make_tensor_proto(list(serialized_examples), dtype=tf.string))
  return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup_requests(export_dir: str, serialized_examples: Sequence[bytes]) -> str:
  """Writes one warm-up request per example into the SavedModel at export_dir; the file's path."""
  if not serialized_examples:
    raise ValueError('no examples to warm TF Serving up with: the training files are empty')
  path = os.path.join(export_dir, WARMUP_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for example in serialized_examples:
      writer.write(predict_log([example]).SerializeToString())
  return path


def read_warmup_requests(model_dir: str) -> List[predict_pb2.PredictRequest]:
  """The PredictRequests of a SavedModel's warm-up file, as TF Serving reads them."""
  path = os.path.join(model_dir, WARMUP_FILE)
  return [prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
          for record in tf.data.TFRecordDataset(path)]
