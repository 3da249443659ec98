"""local_runner.py end to end on a small sample: components, lineage, cache, the data gate and serving skew."""
import glob
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.util import tfxio_utils
from tfx.types import standard_artifacts
from tfx_bsl.public import tfxio

from conftest import E2E_TRAIN_STEPS, LOCAL_NODES, latest_run, pushed_model_dir, run_local
from models import trainer, warm_start
from models.model import build_model


def test_every_component_completes_with_lineage_and_a_pushed_model(e2e_run):
  output_root, process = e2e_run
  summary = latest_run(output_root)
  assert {c.node_id for c in summary.components} == LOCAL_NODES
  assert {c.state for c in summary.components} == {'COMPLETE'}
  trainer = summary.component('Trainer')
  assert trainer.outputs['model'][0].uri.startswith(str(output_root / 'pipeline'))
  assert summary.blessed is True
  assert summary.pushed_path == str(pushed_model_dir(output_root))
  assert (pushed_model_dir(output_root) / 'saved_model.pb').exists()
  assert summary.metrics[()]['example_count'] > 0
  assert f'Pushed model: {summary.pushed_path}' in process.stdout
  assert 'Data anomalies: none' in process.stdout


def test_statistics_gen_and_transform_run_at_the_same_time_and_the_trainer_after_the_gates(e2e_run):
  runs = {c.node_id: c for c in latest_run(e2e_run[0]).components}
  assert runs['Transform'].started_ms < runs['StatisticsGen'].ended_ms
  assert runs['StatisticsGen'].started_ms < runs['Transform'].ended_ms
  assert max(runs[gate].ended_ms for gate in ('DataGate', 'DriftGate')) <= runs['Trainer'].started_ms


def test_a_rerun_with_nothing_changed_comes_from_the_cache(e2e_run, small_data_root):
  output_root, _ = e2e_run
  served_before = os.listdir(output_root / 'serving_model')
  rerun = run_local('--data-root', str(small_data_root), '--output-root', str(output_root),
                    '--train-steps', str(E2E_TRAIN_STEPS))
  assert rerun.returncode == 0, rerun.stdout + rerun.stderr
  states = {c.node_id: c.state for c in latest_run(output_root).components}
  # Resolvers always run. The drift gate compares with the served model's data for the first time. The baseline
  # leaves out the model of this run, which the first run pushed, so the Evaluator's inputs are unchanged.
  ran = {'baseline_model_resolver', 'served_data_statistics_resolver', 'DriftGate'}
  assert {n for n, state in states.items() if state != 'CACHED'} == ran, states
  assert os.listdir(output_root / 'serving_model') == served_before


def test_raw_examples_through_the_served_model_match_the_training_input_through_the_trained_model(e2e_run):
  output_root, _ = e2e_run
  pipeline_root = output_root / 'pipeline'
  eval_files = glob.glob(f'{pipeline_root}/CsvExampleGen/examples/*/Split-eval/*')
  raw = tf.data.TFRecordDataset(eval_files, compression_type='GZIP')
  serving = tf.saved_model.load(str(pushed_model_dir(output_root))).signatures['serving_default']
  served = serving(examples=tf.constant(list(raw.as_numpy_iterator())))['probability'].numpy().ravel()

  tf_transform_output = tft.TFTransformOutput(glob.glob(f'{pipeline_root}/Transform/transform_graph/*')[0])
  examples = standard_artifacts.Examples()
  examples.uri = os.path.dirname(os.path.dirname(eval_files[0]))
  dataset_factory = tfxio_utils.get_tf_dataset_factory_from_artifact([examples], [])
  training_input = dataset_factory(  # the Trainer's input pipeline, in one batch, in file order:
      eval_files, tfxio.TensorFlowDatasetOptions(batch_size=len(served), shuffle=False, num_epochs=1),
      tf_transform_output.raw_metadata.schema).map(trainer.model_inputs(tf_transform_output))
  inputs, _ = next(iter(training_input))
  model = build_model(trainer.cardinalities(tf_transform_output))  # the trained weights, saved beside the model:
  weights, _ = warm_start.split_entries(trainer.load_saved_entries(
      glob.glob(f'{pipeline_root}/Trainer/model/*/Format-Serving')[0]))
  for weight in model.weights:
    weight.assign(weights[weight.name])
  trained = model(inputs).numpy().ravel()

  assert len(served) == len(trained) > 100
  np.testing.assert_allclose(served, trained, atol=1e-5)
