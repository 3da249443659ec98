"""The exported model's label signature (models/trainer.py), on the end-to-end run's pushed model and eval split."""
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from conftest import eval_split, pushed_model_dir
from models.contract import TRANSFORM_SIGNATURE
from preprocessing import features


def test_the_label_signature_gives_transforms_label_from_the_label_columns_alone(e2e_run):
  output_root = e2e_run[0]
  model = tf.saved_model.load(str(pushed_model_dir(output_root)))
  examples = tf.constant(eval_split(output_root))
  labels = model.signatures[TRANSFORM_SIGNATURE](examples=examples)
  assert set(labels) == {features.LABEL_KEY}
  [graph] = tf.io.gfile.glob(f'{output_root}/pipeline/Transform/transform_graph/*')
  transform_output = tft.TFTransformOutput(graph)
  every_column = tf.io.parse_example(examples, transform_output.raw_feature_spec())
  expected = transform_output.transform_features_layer()(every_column)[features.LABEL_KEY].numpy().ravel()
  assert 0 < expected.sum() < len(expected)
  np.testing.assert_array_equal(labels[features.LABEL_KEY].numpy().ravel(), expected)
  without_other_columns = [tf.train.Example.FromString(e) for e in examples.numpy()[:20]]
  for example in without_other_columns:
    for name in list(example.features.feature):
      if name not in features.label_columns():
        del example.features.feature[name]
  kept = model.signatures[TRANSFORM_SIGNATURE](examples=tf.constant(
      [e.SerializeToString() for e in without_other_columns]))[features.LABEL_KEY].numpy().ravel()
  np.testing.assert_array_equal(kept, expected[:20])
