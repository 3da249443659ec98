"""local_runner.py --inference-data end to end: BulkInferrer's predictions joined back to the input rows, in input
order, equal to the pushed model's own signature, recorded in ML Metadata; bad rows to score stop the run."""
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from benchmarks.holdout import big_tipper
from conftest import E2E_ROWS, E2E_TRAIN_STEPS, latest_run, pushed_model_dir, run_local, taxi_rows, tree_digest, \
    write_csv
from models.contract import (PREDICTED_CLASS_COLUMN, PREDICTION_KEY, PROBABILITY_COLUMN, SERVING_INPUT,
                             SERVING_SIGNATURE)
from pipeline import metadata
from pipeline.inference.predictions import Predictions
from pipeline.local import exit_codes
from preprocessing import features
from preprocessing.examples import to_tf_example

SCORED_ROWS = 400  # rows of the sample after the training rows: never trained or evaluated on.
SECOND_FILE_ROWS = 100  # of them, the first ones go to the file whose name sorts last.
AUC_TOLERANCE = 0.05  # the evaluation's AUC is measured on other rows (the eval split): it agrees this closely.


def assert_signature_scores(probabilities, model_dir, header, rows):
  """Each probability is what the model's serving signature returns for its row, whether scored in one batch with
  the others or alone (a row's score does not depend on its batch: preprocessing/transform.py cuts buckets before
  the log, whose last bit differs between the two)."""
  serve = tf.saved_model.load(str(model_dir)).signatures[SERVING_SIGNATURE]
  examples = [to_tf_example(header, r) for r in rows]
  batch = serve(**{SERVING_INPUT: tf.constant(examples)})[PREDICTION_KEY].numpy().ravel()
  alone = np.array([serve(**{SERVING_INPUT: tf.constant([e])})[PREDICTION_KEY].numpy()[0, 0] for e in examples])
  np.testing.assert_allclose(alone, batch, atol=1e-6)
  np.testing.assert_allclose(np.asarray(probabilities), batch, atol=1e-6)
  return batch


def serving_table(header, rows):
  """The header and rows without the label source: what a user scores."""
  keep = [i for i, name in enumerate(header) if name in features.serving_columns()]
  return [header[i] for i in keep], [[row[i] for i in keep] for row in rows]


@pytest.fixture(scope='module')
def scored(tmp_path_factory, small_data_root):
  """One run on the small sample with --inference-data of held-out rows in two files (part-2.csv holds the first
  rows, so name order differs from the rows' order in the sample), one row twice: (output root, process, header,
  rows in the order they must come out, their labels)."""
  header, rows = taxi_rows()
  held_out = rows[E2E_ROWS:E2E_ROWS + SCORED_ROWS]
  held_out.append(list(held_out[-1]))  # identical rows are identical examples: each gets its own output row.
  serving_header, serving_rows = serving_table(header, held_out)
  directory = tmp_path_factory.mktemp('to_score') / 'rows'
  write_csv(directory / 'part-2.csv', serving_header, serving_rows[:SECOND_FILE_ROWS])
  write_csv(directory / 'part-1.csv', serving_header, serving_rows[SECOND_FILE_ROWS:])
  in_order = serving_rows[SECOND_FILE_ROWS:] + serving_rows[:SECOND_FILE_ROWS]
  labels = [big_tipper(header, r) for r in held_out[SECOND_FILE_ROWS:] + held_out[:SECOND_FILE_ROWS]]
  output_root = tmp_path_factory.mktemp('batch') / 'out'
  process = run_local('--data-root', str(small_data_root), '--output-root', str(output_root),
                      '--train-steps', str(E2E_TRAIN_STEPS), '--inference-data', str(directory))
  assert process.returncode == 0, process.stdout + process.stderr
  return output_root, process, directory, serving_header, in_order, np.array(labels)


def predictions_file(output_root: Path) -> Path:
  [path] = (output_root / 'predictions').glob('*/predictions.csv')
  return path


def test_every_row_comes_out_once_in_input_order_with_every_input_column(scored):
  output_root, _, directory, header, in_order, _ = scored
  table = pd.read_csv(predictions_file(output_root), dtype=str, keep_default_na=False)
  assert list(table.columns) == header + [PROBABILITY_COLUMN, PREDICTED_CLASS_COLUMN]
  expected = pd.concat([pd.read_csv(directory / name, dtype=str, keep_default_na=False)
                        for name in ('part-1.csv', 'part-2.csv')], ignore_index=True)
  assert len(table) == len(in_order) == len(expected)
  for column in header:  # the same values, as numbers where the column is numeric
    kind = features.feature(column).raw_type
    if kind == features.RawType.STRING:
      assert table[column].tolist() == expected[column].tolist(), column
    else:
      got = pd.to_numeric(table[column].replace('', np.nan)).to_numpy(dtype=float)
      want = pd.to_numeric(expected[column].replace('', np.nan)).to_numpy(dtype=float)
      np.testing.assert_array_equal(got, want, err_msg=column)


def test_probabilities_are_the_pushed_models_own_and_its_auc_is_the_evaluations(scored):
  output_root, process, _, header, in_order, labels = scored
  table = pd.read_csv(predictions_file(output_root), float_precision='round_trip')
  assert_signature_scores(table[PROBABILITY_COLUMN], pushed_model_dir(output_root), header, in_order)
  assert (table[PREDICTED_CLASS_COLUMN].to_numpy() == (table[PROBABILITY_COLUMN].to_numpy() > 0.5)).all()
  twin = SCORED_ROWS - SECOND_FILE_ROWS  # the repeated row, right after its original
  assert table[PROBABILITY_COLUMN].iloc[twin] == pytest.approx(table[PROBABILITY_COLUMN].iloc[twin - 1], abs=1e-6)
  evaluation_auc = latest_run(output_root).metrics[()]['auc']
  auc = roc_auc_score(labels, table[PROBABILITY_COLUMN])
  print(f'rows {len(table)}, AUC against the withheld labels {auc:.4f}, evaluation AUC {evaluation_auc:.4f}')
  assert abs(auc - evaluation_auc) < AUC_TOLERANCE
  parquet = pd.read_parquet(predictions_file(output_root).with_suffix('.parquet'))
  np.testing.assert_array_equal(parquet[PROBABILITY_COLUMN].to_numpy(), table[PROBABILITY_COLUMN].to_numpy())
  assert len(parquet) == len(table)


def test_the_summary_names_the_file_its_rows_and_this_runs_blessed_model(scored):
  output_root, process, *_ = scored
  path = predictions_file(output_root)
  assert f'Predictions: {path} ({SCORED_ROWS + 1} rows; Parquet beside it), scored by this run\'s model, blessed ' \
         'by its Evaluator' in process.stdout
  ended = {words[0] for words in map(str.split, process.stdout.splitlines())
           if len(words) == 3 and words[1] in ('complete', 'cached')}
  assert {'InferenceExampleGen', 'InferenceStatisticsGen', 'InferenceDataGate', 'inference_model_resolver',
          'BulkInferrer', 'PredictionsWriter'} <= ended


def test_predictions_are_recorded_with_lineage_to_the_model_the_inference_result_and_the_input_files(scored):
  output_root, _, directory, *_ = scored
  store = metadata.open_uri(str(output_root / 'metadata.db'))
  [predictions] = store.get_artifacts_by_type(Predictions.TYPE_NAME)
  assert predictions.uri == str(predictions_file(output_root).parent)
  assert metadata.int_property(predictions, 'rows') == SCORED_ROWS + 1
  execution, _ = metadata.producer(store, predictions.id)
  inputs = dict(metadata.linked_artifacts(store, execution.id, metadata.USED))
  trained = latest_run(output_root).component('Trainer').outputs['model'][0]
  assert inputs['model'].id == trained.id
  assert inputs['inference_result'].type == 'InferenceResult'
  assert metadata.producer(store, inputs['inference_result'].id)[0] is not None
  examples = inputs['examples']
  maker, _ = metadata.producer(store, examples.id)
  assert metadata.placement(store, maker.id)[0] == 'InferenceExampleGen'
  assert metadata.execution_parameters(maker)['input_base'] == str(directory)
  assert [Path(p).name for p in json.loads(examples.custom_properties["input_files"].string_value)] == [
      'part-1.csv', 'part-2.csv']


@pytest.fixture
def copied(tmp_path, scored, small_data_root):
  """A copy of the scored run's output root without its predictions, its serving directory's digest, the training
  data root, and the header and rows that were scored."""
  copy = tmp_path / 'out'
  shutil.copytree(scored[0], copy)
  shutil.rmtree(copy / 'predictions')
  return copy, tree_digest(copy / 'serving_model'), small_data_root, scored[3], scored[4]


def score_again(copied, tmp_path, rows):
  """Reruns the copied run with other rows to score; checks that it changed no served model and wrote nothing."""
  output_root, before, data_root, header, _ = copied
  directory = write_csv(tmp_path / 'bad' / 'rows.csv', header, rows)
  process = run_local('--data-root', str(data_root), '--output-root', str(output_root),
                      '--train-steps', str(E2E_TRAIN_STEPS), '--inference-data', str(directory))
  assert tree_digest(output_root / 'serving_model') == before, 'the served model changed'
  assert not (output_root / 'predictions').exists()
  return process


def test_text_in_a_numeric_column_stops_before_anything_runs(copied, tmp_path):
  header, rows = copied[3], [list(r) for r in copied[4][:50]]
  rows[3][header.index('fare')] = 'twelve'
  process = score_again(copied, tmp_path, rows)
  assert process.returncode == exit_codes.BAD_INPUT
  assert "rows.csv line 5, column 'fare': expected a number, found 'twelve'" in process.stderr
  assert '--inference-data' in process.stderr


def test_rows_breaking_the_schema_stop_the_run_before_training_and_scoring(copied, tmp_path):
  header, rows = copied[3], [list(r) for r in copied[4][:50]]
  for row in rows[:10]:
    row[header.index('trip_start_hour')] = '30'
  process = score_again(copied, tmp_path, rows)
  assert process.returncode == exit_codes.BAD_INPUT, process.stdout + process.stderr
  assert 'STOPPED BY THE INFERENCE DATA GATE' in process.stdout
  assert 'trip_start_hour' in process.stdout
  assert "rows.csv line 2, column 'trip_start_hour': expected a value in [0, 23], found '30'" in process.stdout


def test_a_run_whose_model_is_not_blessed_scores_with_the_pushed_model_and_says_so(copied, tmp_path):
  output_root, before, data_root, header, rows = copied
  directory = write_csv(tmp_path / 'again' / 'rows.csv', header, rows[:30])
  process = run_local('--data-root', str(data_root), '--output-root', str(output_root), '--train-steps', '1',
                      '--inference-data', str(directory))
  assert process.returncode == 0, process.stdout + process.stderr
  assert 'NOT BLESSED' in process.stdout
  assert tree_digest(output_root / 'serving_model') == before
  summary = latest_run(output_root)
  pushed = summary.component('inference_model_resolver').resolved['model'][0]
  assert pushed.id != summary.component('Trainer').outputs['model'][0].id
  assert f'scored by the currently pushed model {pushed.uri} (this run\'s model was not blessed)' in process.stdout
  table = pd.read_csv(predictions_file(output_root), float_precision='round_trip')
  assert_signature_scores(table[PROBABILITY_COLUMN], pushed_model_dir(output_root), header, rows[:30])
