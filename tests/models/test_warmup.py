"""models/warmup.py: TF Serving's warm-up requests, written by the Trainer and carried by the push."""
import gzip

import numpy as np
import tensorflow as tf

from conftest import pushed_model_dir
from models.contract import PREDICTION_KEY, SERVING_INPUT, SERVING_SIGNATURE, WARMUP_FILE
from models.warmup import WARMUP_REQUESTS, read_warmup_requests, sample_examples, write_warmup_requests
from preprocessing import features
from preprocessing.examples import serving_example, to_tf_example


def write_gzipped_records(path, records):
  with tf.io.TFRecordWriter(str(path), options='GZIP') as writer:
    for record in records:
      writer.write(record)
  return path


def test_the_pushed_model_warms_up_with_real_training_examples_the_signature_scores(e2e_run):
  output_root = e2e_run[0]
  pushed = pushed_model_dir(output_root)
  [trained] = (output_root / 'pipeline' / 'Trainer' / 'model').iterdir()
  assert (pushed / WARMUP_FILE).read_bytes() == (trained / 'Format-Serving' / WARMUP_FILE).read_bytes()
  requests = read_warmup_requests(str(pushed))
  assert len(requests) == WARMUP_REQUESTS
  assert {(r.model_spec.signature_name, tuple(r.inputs)) for r in requests} == {(SERVING_SIGNATURE, (SERVING_INPUT,))}
  examples = [e for r in requests for e in tf.make_ndarray(r.inputs[SERVING_INPUT]).tolist()]
  [train_file] = (output_root / 'pipeline' / 'CsvExampleGen' / 'examples').glob('*/Split-train/*.gz')
  first = [serving_example(r.numpy()) for r in tf.data.TFRecordDataset(str(train_file), 'GZIP').take(WARMUP_REQUESTS)]
  assert examples == first
  assert all(set(tf.train.Example.FromString(e).features.feature) <= set(features.serving_columns())
             for e in examples)
  serve = tf.saved_model.load(str(pushed)).signatures[SERVING_SIGNATURE]
  for request in requests:
    scores = serve(**{SERVING_INPUT: tf.constant(tf.make_ndarray(request.inputs[SERVING_INPUT]))})[PREDICTION_KEY]
    assert scores.shape == (1, 1) and 0 <= float(scores[0, 0]) <= 1


def test_examples_are_sampled_across_files_in_order_without_label_sources(tmp_path):
  header = ['fare', features.TIPS]
  records = [to_tf_example(header, [str(i), '1'], drop=()) for i in range(6)]
  write_gzipped_records(tmp_path / 'a.gz', records[:3])
  write_gzipped_records(tmp_path / 'b.gz', records[3:])
  sampled = sample_examples([str(tmp_path / '*.gz')], count=5)
  assert [tf.train.Example.FromString(e).features.feature['fare'].float_list.value[0] for e in sampled] == \
      [0, 1, 2, 3, 4]
  assert not any(features.TIPS in tf.train.Example.FromString(e).features.feature for e in sampled)
  assert gzip.open(tmp_path / 'a.gz').read(1)  # the files really are gzipped TFRecords


def test_the_warmup_file_is_a_tfrecord_of_one_request_per_example(tmp_path):
  examples = [to_tf_example(['fare'], [str(f)]) for f in (1.5, 2.5)]
  path = write_warmup_requests(str(tmp_path), examples)
  assert path == str(tmp_path / 'assets.extra' / 'tf_serving_warmup_requests')
  requests = read_warmup_requests(str(tmp_path))
  assert [tf.make_ndarray(r.inputs[SERVING_INPUT]).tolist() for r in requests] == [[e] for e in examples]
  assert np.all([r.inputs[SERVING_INPUT].dtype == tf.string.as_datatype_enum for r in requests])
