"""kubeflow_runner.py compile with local roots, then run-local: the compiled pipeline runs here and pushes a model
that scores like a local_runner.py model on rows it never saw; the vertex target deploys to a Vertex AI endpoint up
to the API boundary, and its resolvers find earlier runs."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from benchmarks.holdout import big_tipper, is_holdout
from conftest import REPO_ROOT, pushed_model_dir, taxi_rows, write_csv
from models.contract import HPARAMS_FILE, PREDICTION_KEY, SERVING_INPUT, SERVING_SIGNATURE, WARMUP_FILE
from pipeline.compiled import launcher
from preprocessing.examples import to_tf_example
from preprocessing import features
from test_batch_predictions import assert_signature_scores
from test_kubeflow_runner import ENV, compile_to
from test_local_runner import LIBRARY_OUTPUT

AUC_BAR = 0.95
INFERENCE_ROWS = 200  # held-back rows the kfp spec's BulkInferrer scores.


@pytest.fixture(scope='module')
def data(tmp_path_factory):
  """(data root of the rows the pipeline may see, header, held-back rows)."""
  header, rows = taxi_rows()
  root = write_csv(tmp_path_factory.mktemp('run_local') / 'data' / 'data.csv', header,
                   [r for r in rows if not is_holdout(r)])
  return root, header, [r for r in rows if is_holdout(r)]


def run_local(spec, work_dir) -> subprocess.CompletedProcess:
  """`python kubeflow_runner.py run-local --spec SPEC` as a user runs it."""
  return subprocess.run([sys.executable, 'kubeflow_runner.py', 'run-local', '--spec', str(spec), '--work-dir',
                         str(work_dir)], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=1800,
                        check=False)


def holdout_auc(model_dir, header, held) -> float:
  """The AUC of a SavedModel on the held-back rows."""
  serve = tf.saved_model.load(str(model_dir)).signatures[SERVING_SIGNATURE]
  scores = serve(**{SERVING_INPUT: tf.constant([to_tf_example(header, r) for r in held])})[PREDICTION_KEY]
  return roc_auc_score(np.array([big_tipper(header, r) for r in held]), scores.numpy().ravel())


def recorded(pipeline_root, title):
  """The artifacts of a type that run-local tasks recorded under a pipeline root, oldest first."""
  return [a for a in launcher.recorded_artifacts(str(pipeline_root)) if a['type']['schemaTitle'] == title]


def test_the_kfp_spec_runs_here_pushes_a_model_that_scores_and_scores_the_inference_data(data, tmp_path):
  data_root, header, held = data
  root = tmp_path / 'root'
  serving = [i for i, name in enumerate(header) if name in features.serving_columns()]
  to_score = write_csv(tmp_path / 'to_score' / 'rows.csv', [header[i] for i in serving],
                       [[r[i] for i in serving] for r in held[:INFERENCE_ROWS]])
  spec = compile_to(tmp_path / 'pipeline.yaml', '--target', 'kfp', '--pipeline-root', str(root),
                    '--data-root', str(data_root), '--inference-data', str(to_score))
  process = run_local(spec, tmp_path / 'work')
  assert process.returncode == 0, process.stdout + process.stderr
  for task in ('CsvExampleGen', 'CuratedSchemaGen', 'StatisticsGen', 'Transform', 'ExampleValidator', 'DataGate',
               'Trainer', 'Evaluator', 'Pusher', 'InferenceExampleGen', 'InferenceStatisticsGen', 'InferenceDataGate',
               'BulkInferrer', 'PredictionsWriter'):
    assert any(line.split()[:2] == [task, 'complete'] for line in process.stdout.splitlines()), task
  [predictions] = recorded(root, 'tfx.Dataset')
  table = pd.read_csv(predictions['metadata']['csv'], float_precision='round_trip')
  assert f'Predictions: {predictions["metadata"]["csv"]} ({INFERENCE_ROWS} rows' in process.stdout
  assert table['fare'].tolist() == [float(r[header.index('fare')]) for r in held[:INFERENCE_ROWS]]
  assert_signature_scores(table[PREDICTION_KEY], pushed_model_dir(root), header, held[:INFERENCE_ROWS])
  assert 'Blessing: BLESSED' in process.stdout and f'Pushed model: {root}/serving_model/' in process.stdout
  assert holdout_auc(pushed_model_dir(root), header, held) >= AUC_BAR
  assert [line for line in (process.stdout + process.stderr).splitlines() if LIBRARY_OUTPUT.search(line)] == []
  [log] = re.findall(r'^Log: (\S+) ', process.stdout, re.MULTILINE)  # what the libraries wrote in this process
  assert Path(log).parent == root / 'logs' and Path(log).stat().st_size > 0
  [examples, _] = recorded(root, 'tfx.Examples')  # the training examples, then the inference examples
  assert json.loads(examples['metadata']['split_names']) == ['train', 'eval']
  assert examples['metadata']['input_fingerprint'].startswith('split:single_split,num_files:1,')  # ExampleGen's driver


def test_the_vertex_spec_deploys_to_an_endpoint_and_a_later_run_resolves_its_model(data, tmp_path):
  data_root, header, held = data
  root = tmp_path / 'root'
  roots = ('--target', 'vertex', '--pipeline-root', str(root), '--data-root', str(data_root))
  endpoint_spec = compile_to(tmp_path / 'endpoint.json', *roots, '--endpoint-name', 'taxi-tips', '--project',
                             'my-project', '--region', 'us-central1', '--max-replicas', '2')
  first = run_local(endpoint_spec, tmp_path / 'work1')
  assert first.returncode == 0, first.stdout + first.stderr
  assert 'Pusher: the Vertex AI requests it would send (checked against aiplatform_v1, not sent' in first.stdout
  [request_file] = root.glob(f'run-local/*/Pusher/{launcher.VERTEX_DEPLOY_REQUESTS}')
  create, upload, deploy = (r['request'] for r in json.loads(request_file.read_text()))
  parent = 'projects/my-project/locations/us-central1'
  assert (create['parent'], create['endpoint']['display_name']) == (parent, 'taxi-tips')
  [pushed] = recorded(root, 'tfx.PushedModel')
  assert upload['model']['artifact_uri'] == pushed['uri'] and pushed['metadata']['pushed'] == 1
  assert upload['model']['container_spec']['image_uri'] == 'us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest'
  assert deploy['deployed_model']['dedicated_resources'] == {
      'machine_spec': {'machine_type': 'n1-standard-2'}, 'min_replica_count': 1, 'max_replica_count': 2}
  assert f'Pushed model: {parent}/models/1' in first.stdout
  assert not (root / 'serving_model').exists()  # the model went to the endpoint only
  assert (Path(pushed['uri']) / WARMUP_FILE).is_file()
  assert holdout_auc(pushed['uri'], header, held) >= AUC_BAR  # the model uploaded to the registry scores
  spec = compile_to(tmp_path / 'pipeline.json', *roots)
  second = run_local(spec, tmp_path / 'work2')
  assert second.returncode == 0, second.stdout + second.stderr
  models, blessings = recorded(root, 'tfx.Model'), recorded(root, 'tfx.ModelBlessing')
  assert len(models) == len(blessings) == 2
  assert 'baseline_model_id' not in blessings[0]['metadata']  # the first run had no blessed model to compare with
  assert blessings[1]['metadata']['baseline_model_id'] == models[0]['name']
  assert blessings[1]['metadata']['current_model_id'] == models[1]['name']


def test_a_remote_pipeline_root_is_refused_with_what_to_do(tmp_path):
  spec = compile_to(tmp_path / 'pipeline.yaml', '--target', 'kfp', '--pipeline-root', 'gs://bucket/taxi')
  process = run_local(spec, tmp_path / 'work')
  assert process.returncode == 2
  assert 'pipeline root gs://bucket/taxi is remote: compile with a local --pipeline-root' in process.stderr


def custom_job_pools(root, task):
  """The worker pools of the custom job a task would have created (run-local wrote the checked request)."""
  [request_file] = root.glob(f'run-local/*/{task}/vertex_custom_job.json')
  return json.loads(request_file.read_text())['custom_job']['job_spec']['worker_pool_specs']


def test_a_trainer_and_tuner_compiled_as_vertex_custom_jobs_run_here_and_show_their_requests(tmp_path):
  header, rows = taxi_rows()
  data_root = write_csv(tmp_path / 'data' / 'data.csv', header, rows[:3000])
  root = tmp_path / 'root'
  spec = compile_to(tmp_path / 'pipeline.json', '--target', 'vertex', '--pipeline-root', str(root), '--data-root',
                    str(data_root), '--train-steps', '200', '--accelerator', 'NVIDIA_TESLA_T4', '--machine-type',
                    'n1-standard-8', '--trainer-replicas', '2', '--project', 'my-project', '--region', 'us-central1',
                    '--tune', '--tuner-trials', '2', '--tuner-parallel', '2')
  process = run_local(spec, tmp_path / 'work')
  assert process.returncode == 0, process.stdout + process.stderr
  for task, done in (('Trainer', 'trained here'), ('Tuner', 'tuned here, its trials one at a time')):
    assert f'{task}: {done}; the Vertex AI custom job it would create in projects/my-project/locations/' \
           'us-central1 (checked against aiplatform_v1.CustomJob, not sent' in process.stdout
  machine = {'machine_type': 'n1-standard-8', 'accelerator_type': 'NVIDIA_TESLA_T4', 'accelerator_count': 1}
  pools = custom_job_pools(root, 'Trainer')
  assert [(p['machine_spec'], p['replica_count']) for p in pools] == [(machine, '1'), (machine, '1')]
  assert {p['container_spec']['image_uri'] for p in pools} == {'img:1'}
  command = pools[0]['container_spec']['command']
  assert command[:3] == ['python', '-m', 'tfx.scripts.run_executor']
  assert command[command.index('--executor_class_path') + 1] == 'tfx.components.trainer.executor.GenericExecutor'
  tuner_pools = custom_job_pools(root, 'Tuner')  # a chief and a worker, each running trials: 2 at a time on Vertex.
  assert [(p['machine_spec'], p['replica_count']) for p in tuner_pools] == [(machine, '1'), (machine, '1')]
  [best] = recorded(root, 'tfx.HyperParameters')
  [model] = recorded(root, 'tfx.Model')
  assert (Path(model['uri']) / 'Format-Serving' / 'saved_model.pb').is_file()
  trained_with = json.loads((Path(model['uri']) / HPARAMS_FILE).read_text())
  tuned = json.loads((Path(best['uri']) / 'best_hyperparameters.txt').read_text())['values']
  assert trained_with['source'] == 'tuned' and trained_with['tuned_values'] == tuned


def test_the_custom_job_check_refuses_what_vertex_would():
  from pipeline.compiled.vertex_boundary import checked_custom_job  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='Unknown field for MachineSpec: machine_typo'):
    checked_custom_job({'display_name': 'x', 'job_spec': {'worker_pool_specs': [{'machine_spec': {
        'machine_typo': 'n1-standard-8'}}]}})
