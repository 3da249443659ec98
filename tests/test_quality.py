"""The quality bar: the pushed model's AUC on rows the pipeline never saw (the benchmark's held-back rows)."""
import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from benchmarks.holdout import big_tipper, is_holdout
from conftest import pushed_model_dir, run_local, taxi_rows, write_csv
from models.contract import PREDICTION_KEY, SERVING_INPUT, SERVING_SIGNATURE
from preprocessing.examples import to_tf_example

AUC_BAR = 0.95


def test_pushed_model_reaches_the_auc_bar_on_held_back_rows(tmp_path):
  header, rows = taxi_rows()
  holdout = [r for r in rows if is_holdout(r)]
  data_root = write_csv(tmp_path / 'data' / 'data.csv', header, [r for r in rows if not is_holdout(r)])
  process = run_local('--data-root', str(data_root), '--output-root', str(tmp_path / 'out'))
  assert process.returncode == 0, process.stdout + process.stderr
  serve = tf.saved_model.load(str(pushed_model_dir(tmp_path / 'out'))).signatures[SERVING_SIGNATURE]
  examples = tf.constant([to_tf_example(header, r) for r in holdout])
  scores = serve(**{SERVING_INPUT: examples})[PREDICTION_KEY].numpy().ravel()
  labels = np.array([big_tipper(header, r) for r in holdout])
  auc = roc_auc_score(labels, scores)
  print(f'holdout rows: {len(holdout)}, positives: {labels.mean():.3f}, AUC: {auc:.4f}')
  assert auc >= AUC_BAR
