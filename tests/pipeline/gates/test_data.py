"""pipeline/gates/data.py: the label's classes per split, counted from the examples as Transform computes them."""
import pytest
import tensorflow as tf

from pipeline.gates import data
from preprocessing import features


def example(tips, fare) -> bytes:
  """A serialized tf.Example with the label sources; None leaves a value out."""
  feature = {name: tf.train.Feature(float_list=tf.train.FloatList(value=[] if value is None else [value]))
             for name, value in ((features.TIPS, tips), (features.FARE, fare))}
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_examples(path, rows, compression=''):
  path.parent.mkdir(parents=True, exist_ok=True)
  with tf.io.TFRecordWriter(str(path), options=compression or None) as writer:
    for tips, fare in rows:
      writer.write(example(tips, fare))


@pytest.mark.parametrize('compression, file_name', [('GZIP', 'data_tfrecord-00000-of-00001.gz'), ('', 'data')])
def test_label_counts_follow_the_label_rule(tmp_path, compression, file_name):
  rows = [(3.0, 10.0), (1.0, 10.0), (2.0, 10.0), (None, 10.0), (5.0, None), (0.0, 0.0)] * 3
  write_examples(tmp_path / file_name, rows, compression)
  assert data.label_counts(str(tmp_path)) == {0: 15, 1: 3}  # only 3 > 0.2 x 10 tips; absent sources are 0.


def test_counting_until_every_class_is_seen_stops_early_and_counts_a_split_without_one_whole(tmp_path, monkeypatch):
  monkeypatch.setattr(data, 'COUNT_BATCH', 4)
  write_examples(tmp_path / 'both' / 'data', [(3.0, 10.0), (1.0, 10.0)] + [(0.0, 10.0)] * 20)
  write_examples(tmp_path / 'one' / 'data', [(1.0, 10.0)] * 22)

  assert data.label_counts(str(tmp_path / 'both'), until_every_class=True) == {0: 3, 1: 1}  # the first batch
  assert data.label_counts(str(tmp_path / 'both')) == {0: 21, 1: 1}
  assert data.label_counts(str(tmp_path / 'one'), until_every_class=True) == {0: 22, 1: 0}


def test_a_split_with_one_class_is_an_anomaly_naming_label_split_and_counts():
  found = data.single_class_anomalies({'train': {0: 800, 1: 0}, 'eval': {0: 150, 1: 50}, 'empty': {0: 0, 1: 0}})
  assert [(a.split, a.feature) for a in found] == [('train', 'big_tipper'), ('empty', 'big_tipper')]
  assert found[0].anomaly == 'One label class only'
  assert found[0].description.startswith('0: 800 examples, 1: 0 examples (big_tipper = tips > 0.2 x fare)')
