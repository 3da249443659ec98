"""local_runner.py end to end on a small sample: components, lineage, cache, the data gate, serving skew, and what
the console shows."""
import glob
import os
import re
from pathlib import Path
from typing import Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.util import tfxio_utils
from tfx.types import standard_artifacts
from tfx_bsl.public import tfxio

from conftest import E2E_TRAIN_STEPS, LOCAL_NODES, LOCAL_RESOLVERS, latest_run, pushed_model_dir, run_local
from models import trainer, warm_start
from models.model import build_model
from pipeline.local import replay

MAX_CONSOLE_LINES = 45
LIBRARY_OUTPUT = re.compile(  # Python logging and warnings, C++ logs (absl's and TensorFlow's), Keras's progress
    r'WARNING:|INFO:|Warning|warnings\.warn|^[IWEF]\d{4} |\d\d:\d\d\.\d{6}: [IWEF] |absl|tensorflow|apache_beam|cuda|'
    r'Instructions for updating|^\d+/\d+ - ')
TABLE_HEADING = re.compile(r'^component +status +seconds$', re.MULTILINE)


def rows(stdout: str) -> List[List[str]]:
  """The console's lines, split into words."""
  return [line.split() for line in stdout.splitlines()]


def end_rows(stdout: str) -> Dict[str, List[str]]:
  """The rows printed as components ended, by component: [status, seconds]."""
  return {r[0]: r[1:] for r in rows(stdout) if len(r) == 3 and re.fullmatch(r'\d+\.\d', r[2]) and r[0] != 'whole'}


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


def test_a_run_on_little_data_runs_one_component_at_a_time_and_the_trainer_after_the_gates(e2e_run):
  runs = sorted(latest_run(e2e_run[0]).components, key=lambda c: c.started_ms)
  assert all(earlier.ended_ms <= later.started_ms for earlier, later in zip(runs, runs[1:])), runs
  by_node = {c.node_id: c for c in runs}
  assert max(by_node[gate].ended_ms for gate in ('DataGate', 'DriftGate')) <= by_node['Trainer'].started_ms


def test_side_by_side_runs_statistics_gen_and_transform_at_the_same_time_and_the_trainer_after_the_gates(
    tmp_path, small_data_root):
  process = run_local('--data-root', str(small_data_root), '--output-root', str(tmp_path),
                      '--train-steps', str(E2E_TRAIN_STEPS), '--side-by-side', 'on')
  assert process.returncode == 0, process.stdout + process.stderr
  runs = {c.node_id: c for c in latest_run(tmp_path).components}
  assert {c.state for c in runs.values()} == {'COMPLETE'}
  assert runs['Transform'].started_ms < runs['StatisticsGen'].ended_ms
  assert runs['StatisticsGen'].started_ms < runs['Transform'].ended_ms
  assert max(runs[gate].ended_ms for gate in ('DataGate', 'DriftGate')) <= runs['Trainer'].started_ms


def test_a_rerun_with_nothing_changed_comes_from_the_cache(e2e_run, small_data_root):
  output_root, _ = e2e_run
  served_before = os.listdir(output_root / 'serving_model')
  rerun = run_local('--data-root', str(small_data_root), '--output-root', str(output_root),
                    '--train-steps', str(E2E_TRAIN_STEPS))
  assert rerun.returncode == 0, rerun.stdout + rerun.stderr
  assert replay.REPLAYED in rerun.stdout  # TFX would take every node from the cache (pipeline/local/replay.py)
  states = {c.node_id: c.state for c in latest_run(output_root).components}
  assert {node: row[0] for node, row in end_rows(rerun.stdout).items()} == {n: s.lower() for n, s in states.items()}
  # Resolvers always run. The served model's data is this run's own, which the drift gate is not given, and the
  # baseline leaves out the model of this run, which the first run pushed: the gate's and the Evaluator's inputs are
  # unchanged; no tuning was ever recorded, so the Trainer's hyperparameters input is as empty as before.
  assert {n for n, state in states.items() if state != 'CACHED'} == LOCAL_RESOLVERS, states
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


def test_the_console_shows_a_row_as_each_component_starts_and_ends_and_nothing_the_libraries_write(e2e_run):
  _, process = e2e_run
  console = (process.stdout + process.stderr).splitlines()
  assert len(console) <= MAX_CONSOLE_LINES, process.stdout + process.stderr
  assert [line for line in console if LIBRARY_OUTPUT.search(line)] == [], process.stdout + process.stderr
  assert process.stderr == ''
  printed, ended = rows(process.stdout), end_rows(process.stdout)
  assert set(ended) == LOCAL_NODES and {status for status, _ in ended.values()} == {'complete'}  # a first run
  for node, row in ended.items():
    end = printed.index([node, *row])
    starts = [i for i, words in enumerate(printed) if words == [node, 'started']]
    expected = 0 if node.endswith('_resolver') else 1  # a resolver resolves at once: one row
    assert len(starts) == expected and all(start < end for start in starts), node
  assert len(TABLE_HEADING.findall(process.stdout)) == 1  # the summary that follows the rows does not repeat them


def test_what_the_libraries_write_goes_to_the_log_file_the_summary_names(e2e_run):
  output_root, process = e2e_run
  [named] = re.findall(r'^Log: (\S+)$', process.stdout, re.MULTILINE)
  log = Path(named)
  assert log.parent == output_root / 'logs' and re.fullmatch(r'\d{8}-\d{6}(-\d+)?\.log', log.name)
  assert f'Library logs: {log} ' in process.stdout.splitlines()[0]  # there to follow while the run runs
  text = log.read_text()
  assert re.search(r'^WARNING:(absl|tensorflow):', text, re.MULTILINE)  # Python logging, this process
  assert f'{E2E_TRAIN_STEPS}/{E2E_TRAIN_STEPS} - ' in text  # what Keras prints as the Trainer trains
  assert 'Pushed model' not in text  # the summary is on the console only


def test_verbose_brings_the_library_logs_back_to_the_console(e2e_run, small_data_root):
  output_root, quiet = e2e_run
  assert 'WARNING:absl:' not in quiet.stdout + quiet.stderr  # the default run's console
  logs_before = sorted((output_root / 'logs').iterdir())
  # Through TFX: with nothing changed this run would be replayed, which loads no library to log.
  verbose = run_local('--data-root', str(small_data_root), '--output-root', str(output_root),
                      '--train-steps', str(E2E_TRAIN_STEPS), '--verbose', '--no-replay')
  assert verbose.returncode == 0, verbose.stdout + verbose.stderr
  assert 'WARNING:absl:' in verbose.stderr and 'INFO:absl:' in verbose.stderr
  assert len(TABLE_HEADING.findall(verbose.stdout)) == 1 and ' started' not in verbose.stdout  # the summary as it was
  assert 'Log: ' not in verbose.stdout and sorted((output_root / 'logs').iterdir()) == logs_before
