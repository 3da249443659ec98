"""pipeline/serving/scoring.py: a CSV file scored batch by batch with the pushed model, whole or not at all."""
import csv
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import pushed_model_dir, taxi_rows
from models.contract import PREDICTED_CLASS_COLUMN, PREDICTION_KEY, PROBABILITY_COLUMN, SERVING_INPUT, \
    SERVING_SIGNATURE
from pipeline.serving.scoring import InputError, model_directory, score_file, signature_predict
from preprocessing import features
from preprocessing.examples import to_tf_example

ROWS = 300


def write_rows(path, header, rows):
  with open(path, 'w', newline='', encoding='utf-8') as f:
    csv.writer(f).writerows([header, *rows])
  return str(path)


def read_rows(path):
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    return next(reader), list(reader)


def zeros(examples):
  return np.zeros(len(examples), np.float32)


def test_a_file_streams_in_small_batches_and_scores_as_the_signature_does_on_every_row(e2e_run, tmp_path):
  header, rows = taxi_rows()
  rows = rows[-ROWS:]
  source = write_rows(tmp_path / 'trips.csv', header, rows)
  model = model_directory('latest', str(e2e_run[0]))
  assert model == str(pushed_model_dir(e2e_run[0]))
  predict, batches, progress = signature_predict(model), [], []

  def recording(examples):
    batches.append(len(examples))
    return predict(examples)

  assert score_file(recording, source, str(tmp_path / 'scored.csv'), 50, progress.append) == ROWS
  assert batches == progress == [50] * 6
  out_header, out_rows = read_rows(tmp_path / 'scored.csv')
  assert out_header == header + [PROBABILITY_COLUMN, PREDICTED_CLASS_COLUMN]
  assert [r[:len(header)] for r in out_rows] == rows  # every cell as it was, in order
  serve = tf.saved_model.load(model).signatures[SERVING_SIGNATURE]
  direct = serve(**{SERVING_INPUT: tf.constant([to_tf_example(header, r) for r in rows])})[PREDICTION_KEY]
  probabilities = np.array([float(r[-2]) for r in out_rows])
  np.testing.assert_allclose(probabilities, direct.numpy().ravel(), rtol=1e-6, atol=1e-7)
  assert [int(r[-1]) for r in out_rows] == [int(p > 0.5) for p in probabilities]
  assert {int(r[-1]) for r in out_rows} == {0, 1}


def test_a_bad_cell_names_file_line_column_and_value_and_leaves_no_output(tmp_path):
  header, rows = taxi_rows()
  rows = [list(r) for r in rows[:120]]
  rows[104][header.index('trip_seconds')] = 'ten'  # line 106 of the file, in the third batch of 50
  source = write_rows(tmp_path / 'trips.csv', header, rows)
  with pytest.raises(InputError, match=f"^{source}: line 106, column trip_seconds: 'ten' is not an INT value$"):
    score_file(zeros, source, str(tmp_path / 'out' / 'scored.csv'), 50)
  assert os.listdir(tmp_path / 'out') == []


def test_a_missing_serving_column_or_a_taken_output_column_is_refused(tmp_path):
  header, rows = taxi_rows()
  keep = [i for i, name in enumerate(header) if name != 'company']
  source = write_rows(tmp_path / 'no_company.csv', [header[i] for i in keep], [[r[i] for i in keep] for r in rows[:5]])
  with pytest.raises(InputError, match=r'no_company.csv: missing column\(s\) company; a file to score has every'):
    score_file(zeros, source, str(tmp_path / 'scored.csv'), 50)
  source = write_rows(tmp_path / 'taken.csv', header + [PROBABILITY_COLUMN], [r + ['0.5'] for r in rows[:5]])
  with pytest.raises(InputError, match=r'column\(s\) probability would be overwritten'):
    score_file(zeros, source, str(tmp_path / 'scored.csv'), 50)
  assert sorted(os.listdir(tmp_path)) == ['no_company.csv', 'taken.csv']


def test_label_sources_and_unknown_columns_are_kept_in_the_output_but_not_sent(tmp_path):
  header = list(features.serving_columns()) + [features.TIPS, 'trip_id']
  row = ['' for _ in features.serving_columns()] + ['3.5', 'abc']
  row[header.index('fare')] = '10'
  sent = []

  def recording(examples):
    sent.extend(tf.train.Example.FromString(e) for e in examples)
    return np.full(len(examples), 0.75, np.float32)

  score_file(recording, write_rows(tmp_path / 'trips.csv', header, [row]), str(tmp_path / 'scored.csv'), 10)
  assert [set(e.features.feature) for e in sent] == [{'fare'}]
  assert read_rows(tmp_path / 'scored.csv') == (header + [PROBABILITY_COLUMN, PREDICTED_CLASS_COLUMN],
                                                [row + ['0.75', '1']])


def test_latest_is_the_newest_pushed_version_and_nothing_pushed_says_what_to_do(tmp_path):
  with pytest.raises(InputError, match=f'no model was pushed under {tmp_path}/serving_model: run local_runner.py'):
    model_directory('latest', str(tmp_path))
  for version in ('100', '200'):
    (tmp_path / 'serving_model' / version).mkdir(parents=True)
    (tmp_path / 'serving_model' / version / 'saved_model.pb').write_bytes(b'')
  assert model_directory('latest', str(tmp_path)) == str(tmp_path / 'serving_model' / '200')
  with pytest.raises(InputError, match='is not a SavedModel directory'):
    model_directory(str(tmp_path), str(tmp_path))
