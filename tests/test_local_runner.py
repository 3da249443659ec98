"""local_runner.py end to end on a small sample: components, lineage, cache, the data gate and serving skew."""
import glob

import numpy as np
import tensorflow as tf
import tf_keras as keras

from conftest import E2E_TRAIN_STEPS, EXPECTED_NODES, pushed_model_dir, run_local, taxi_rows, write_csv
from pipeline import config as config_lib
from pipeline import report


def latest_run(output_root):
  """The summary of the newest run recorded in <output_root>/metadata.db."""
  config = config_lib.local_config(data_root='.', output_root=str(output_root), train_steps=1,
                                   enable_cache=True, beam_workers=1)
  return report.summarize_latest_run(config)


def test_every_component_completes_with_lineage_and_a_pushed_model(e2e_run):
  output_root, process = e2e_run
  summary = latest_run(output_root)
  assert {c.node_id for c in summary.components} == EXPECTED_NODES
  assert {c.state for c in summary.components} == {'COMPLETE'}
  trainer = summary.component('Trainer')
  assert trainer.outputs['model'][0].uri.startswith(str(output_root / 'pipeline'))
  assert summary.blessed is True
  assert summary.pushed_path == str(pushed_model_dir(output_root))
  assert (pushed_model_dir(output_root) / 'saved_model.pb').exists()
  assert summary.metrics[()]['example_count'] > 0
  assert f'Pushed model: {summary.pushed_path}' in process.stdout
  assert 'Data anomalies: none' in process.stdout


def test_second_run_with_nothing_changed_is_served_from_the_cache(e2e_run, small_data_root):
  output_root, _ = e2e_run
  process = run_local('--data-root', str(small_data_root), '--output-root', str(output_root),
                      '--train-steps', str(E2E_TRAIN_STEPS))
  assert process.returncode == 0, process.stdout + process.stderr
  states = {c.node_id: c.state for c in latest_run(output_root).components}
  assert all(states[n] == 'CACHED' for n in EXPECTED_NODES - {'latest_blessed_model_resolver'}), states


def test_raw_examples_through_the_served_model_match_transform_output_through_the_trained_model(e2e_run):
  output_root, _ = e2e_run
  pipeline_root = output_root / 'pipeline'
  raw = tf.data.TFRecordDataset(glob.glob(f'{pipeline_root}/CsvExampleGen/examples/*/Split-eval/*'),
                                compression_type='GZIP')
  serving = tf.saved_model.load(str(pushed_model_dir(output_root))).signatures['serving_default']
  served = serving(examples=tf.constant(list(raw.as_numpy_iterator())))['probability'].numpy().ravel()

  transform_graph = glob.glob(f'{pipeline_root}/Transform/transform_graph/*')[0]
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  spec = tft.TFTransformOutput(transform_graph).transformed_feature_spec()
  transformed = tf.data.TFRecordDataset(
      glob.glob(f'{pipeline_root}/Transform/transformed_examples/*/Split-eval/*'), compression_type='GZIP')
  batch = tf.io.parse_example(tf.constant(list(transformed.as_numpy_iterator())), spec)
  model = keras.models.load_model(glob.glob(f'{pipeline_root}/Trainer/model/*/Format-Serving')[0])
  trained = model({k: v for k, v in batch.items() if k in model.input_names}).numpy().ravel()

  assert len(served) == len(trained) > 100
  # Beam may write the two splits in different orders: compare the sorted predictions.
  np.testing.assert_allclose(np.sort(served), np.sort(trained), atol=1e-5)


def test_data_that_breaks_the_schema_stops_the_run_before_transform(tmp_path):
  header, rows = taxi_rows()
  hour = header.index('trip_start_hour')
  broken = [r[:hour] + ['99'] + r[hour + 1:] if i % 10 == 0 else r for i, r in enumerate(rows[:1000])]
  data_root = write_csv(tmp_path / 'data' / 'data.csv', header, broken)
  process = run_local('--data-root', str(data_root), '--output-root', str(tmp_path / 'out'))
  assert process.returncode == report.EXIT_BAD_INPUT, process.stdout + process.stderr
  assert 'STOPPED BY THE DATA GATE' in process.stdout
  assert 'trip_start_hour' in process.stdout
  ran = {c.node_id for c in latest_run(tmp_path / 'out').components}
  assert 'ExampleValidator' in ran and not ran & {'Transform', 'Trainer', 'Evaluator', 'Pusher'}
  assert not (tmp_path / 'out' / 'serving_model').exists()


def test_missing_data_root_is_named_in_the_error(tmp_path):
  process = run_local('--data-root', str(tmp_path / 'nowhere'), '--output-root', str(tmp_path / 'out'))
  assert process.returncode == report.EXIT_BAD_INPUT
  assert str(tmp_path / 'nowhere') in process.stderr
