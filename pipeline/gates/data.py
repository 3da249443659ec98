"""The data gate: stops the run before training when ExampleValidator found anomalies against the curated schema,
or when a split's label has fewer than two classes.

ExampleValidator only writes anomalies (it never fails a run); this node reads them and fails. The label is not a
column (preprocessing/transform.py computes it from its sources), so no schema check can see a split without a
big tipper; this node counts the classes of each split with the preprocessing code's own label function, reading a
split only until it has seen both (a split without one is read whole, and its counts reported).
"""

import os
from typing import Dict, List

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts

from pipeline.gates.base import Anomaly, DataValidationError, Gate, format_table
from preprocessing import features
from preprocessing.transform import big_tipper

CLASSES = (0, 1)
COUNT_BATCH = 8192


def read_anomalies(uri: str, split_names: List[str]) -> List[Anomaly]:
  """The anomalies ExampleValidator wrote under an ExampleAnomalies artifact URI."""
  found = []
  for split in split_names:
    proto = anomalies_pb2.Anomalies()
    with open(os.path.join(uri, f'Split-{split}', 'SchemaDiff.pb'), 'rb') as f:
      proto.ParseFromString(f.read())
    for feature_name, info in sorted(proto.anomaly_info.items()):
      found.append(Anomaly(split, feature_name, info.short_description, info.description))
    if proto.HasField('dataset_anomaly_info'):
      info = proto.dataset_anomaly_info
      found.append(Anomaly(split, '(dataset)', info.short_description, info.description))
  return found


def label_counts(split_uri: str, until_every_class: bool = False) -> Dict[int, int]:
  """How many examples of one split (a directory of TFRecord files) have each label class.

  With until_every_class, reading stops at the first batch by which every class has been seen: the counts are then
  those of the batches read, and whole only for a split that lacks a class, the one case the gate reports them.
  """
  files = sorted(fileio.glob(os.path.join(split_uri, '*')))
  compression = 'GZIP' if files and all(f.endswith('.gz') for f in files) else ''
  sources = {name: tf.io.VarLenFeature(tf.float32) for name in features.label_columns()}

  @tf.function(autograph=False)
  def batch_counts(serialized: tf.Tensor) -> tf.Tensor:
    parsed = tf.io.parse_example(serialized, sources)
    labels = big_tipper(*(parsed[name] for name in features.label_columns()))
    return tf.math.bincount(labels, minlength=len(CLASSES), maxlength=len(CLASSES), dtype=tf.int64)

  counts = np.zeros(len(CLASSES), np.int64)
  for batch in tf.data.TFRecordDataset(files, compression_type=compression).batch(COUNT_BATCH):
    counts += batch_counts(batch).numpy()
    if until_every_class and counts.all():
      break
  return dict(zip(CLASSES, counts.tolist()))


def single_class_anomalies(counts_by_split: Dict[str, Dict[int, int]]) -> List[Anomaly]:
  """An anomaly for each split whose label has fewer than two classes, naming the label and the class counts."""
  found = []
  for split, counts in counts_by_split.items():
    if sum(1 for n in counts.values() if n) < len(CLASSES):
      classes = ', '.join(f'{label}: {n:,} examples' for label, n in sorted(counts.items()))
      found.append(Anomaly(split, features.LABEL_KEY, 'One label class only',
                           f'{classes} ({features.LABEL_KEY} = {features.TIPS} > {features.TIP_FRACTION} x '
                           f'{features.FARE}); a model can neither learn nor be evaluated on one class.'))
  return found


@component
def DataGate(anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],  # pylint: disable=invalid-name
             examples: InputArtifact[standard_artifacts.Examples], label_code_sha256: Parameter[str]) -> None:
  """Fails the run when ExampleValidator found anomalies, or a split's label has one class, so no Trainer starts.

  label_code_sha256 (the preprocessing code's digest) is not read: it keys the cache, so a changed label rule
  counts again.
  """
  found = read_anomalies(anomalies.uri, artifact_utils.decode_split_names(anomalies.split_names))
  splits = artifact_utils.decode_split_names(examples.split_names)
  found += single_class_anomalies({split: label_counts(artifact_utils.get_split_uri([examples], split),
                                                      until_every_class=True) for split in splits})
  if found:
    raise DataValidationError(
        f'{len(found)} data anomalies against schema/schema.pbtxt and the label; the run stops before training.\n'
        + format_table(found))


GATE = Gate(node_id='DataGate', error=DataValidationError, checks_key='anomalies', checks_type='ExampleAnomalies',
            required=True)
