"""compile --tune: the kfp target's Tuner in its container, the vertex target's Vertex AI Tuner with parallel trials
on the Trainer's machine spec, and the custom job TFX's Vertex Tuner executor would send from it."""
import json

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

import kubeflow_runner
from pipeline.compiled import launcher
from test_kubeflow_runner import ACCELERATED, ENV, assert_outputs_exist, compile_to, executor_class, parameter, wiring

IN_PIPELINE_TUNER = 'tfx.components.tuner.executor.Executor'
VERTEX_TUNER = 'tfx.extensions.google_cloud_ai_platform.tuner.executor.Executor'
TUNER_INPUTS = {'examples': ('CsvExampleGen', 'examples'), 'transform_graph': ('Transform', 'transform_graph'),
                'schema': ('CuratedSchemaGen', 'schema')}


@pytest.fixture(scope='module')
def kfp_tuned(tmp_path_factory):
  path = compile_to(tmp_path_factory.mktemp('kfp') / 'pipeline.yaml', '--target', 'kfp', '--tune',
                    '--tuner-trials', '3', '--tuner-seconds', '60')
  return yaml.safe_load(path.read_text())


@pytest.fixture(scope='module')
def vertex_tuned(tmp_path_factory):
  path = compile_to(tmp_path_factory.mktemp('vertex') / 'pipeline.json', '--tune', '--tuner-trials', '6',
                    '--tuner-parallel', '3', *ACCELERATED)
  return json.loads(path.read_text())['pipelineSpec']


def custom_config(spec: dict, task: str) -> dict:
  """A task's custom_config parameter, decoded."""
  return json.loads(parameter(spec, task, 'custom_config'))


def tuner_node(*flags: str, environ=None):
  """The Tuner node the compile flags put into the DAG (no compilation)."""
  from pipeline.dag import create_components  # pylint: disable=g-import-not-at-top
  args = kubeflow_runner.parse_args(['compile', '--tune', *flags], ENV if environ is None else environ)
  return {node.id: node for node in create_components(kubeflow_runner.cloud_config(args))}['Tuner']


def test_kfp_runs_tfx_tuner_in_its_container_and_the_trainer_takes_its_best_hyperparameters(kfp_tuned):
  json_format.ParseDict(kfp_tuned, pipeline_spec_pb2.PipelineSpec())
  assert executor_class(kfp_tuned, 'Tuner') == IN_PIPELINE_TUNER
  assert parameter(kfp_tuned, 'Tuner', 'tuner_fn') == 'models.tuner.tuner_fn'
  config = custom_config(kfp_tuned, 'Tuner')
  assert (config['tuner_trials'], config['tuner_seconds']) == (3, 60)
  assert 'ai_platform_tuning_args' not in config and 'tune_args' not in kfp_tuned['root']['dag']['tasks']['Tuner'][
      'inputs']['parameters']
  assert wiring(kfp_tuned)['Tuner'] == TUNER_INPUTS
  assert wiring(kfp_tuned)['Trainer']['hyperparameters'] == ('Tuner', 'best_hyperparameters')
  assert 'DataGate' in kfp_tuned['root']['dag']['tasks']['Tuner']['dependentTasks']
  assert not [t for t in wiring(kfp_tuned) if 'resolver' in t]
  assert_outputs_exist(kfp_tuned)


def test_vertex_runs_the_vertex_tuner_with_parallel_trials_on_the_trainers_machines(vertex_tuned):
  assert executor_class(vertex_tuned, 'Tuner') == VERTEX_TUNER
  assert json.loads(parameter(vertex_tuned, 'Tuner', 'tune_args')) == {'num_parallel_trials': 3}
  assert parameter(vertex_tuned, 'Tuner', 'tuner_fn') == 'models.tuner.tuner_fn'
  config = custom_config(vertex_tuned, 'Tuner')
  assert (config['tuner_trials'], config['tuner_parallel']) == (6, 1)  # one trial at a time on each replica.
  assert config['ai_platform_enable_vertex'] is True and config['ai_platform_vertex_region'] == 'europe-west4'
  assert config['ai_platform_tuning_args']['project'] == 'my-project'
  trainer_pools = custom_config(vertex_tuned, 'Trainer')['ai_platform_training_args']['job_spec']['worker_pool_specs']
  pools = config['ai_platform_tuning_args']['job_spec']['worker_pool_specs']
  assert [p['replica_count'] for p in pools] == [1, 2]  # the chief and 2 workers: 3 trials at a time.
  assert [{**p, 'replica_count': 0} for p in pools] == [{**trainer_pools[0], 'replica_count': 0}] * 2
  assert trainer_pools[0]['machine_spec'] == {'machine_type': 'n1-standard-8', 'accelerator_type': 'NVIDIA_TESLA_T4',
                                              'accelerator_count': 2}
  assert wiring(vertex_tuned)['Tuner'] == TUNER_INPUTS
  assert wiring(vertex_tuned)['Trainer']['hyperparameters'] == ('Tuner', 'best_hyperparameters')
  assert not [t for t in wiring(vertex_tuned) if 'hyperparameters_resolver' in t]
  assert_outputs_exist(vertex_tuned)


def test_the_vertex_tuners_custom_job_is_one_the_vertex_api_takes(vertex_tuned, monkeypatch):
  """TFX's Vertex Tuner executor on the compiled parameters, up to the request it would send (the cloud boundary)."""
  from tfx.extensions.google_cloud_ai_platform import runner, training_clients  # pylint: disable=g-import-not-at-top
  from tfx.extensions.google_cloud_ai_platform.tuner import executor  # pylint: disable=g-import-not-at-top
  from pipeline.compiled.vertex_boundary import checked_custom_job  # pylint: disable=g-import-not-at-top
  sent = {}
  monkeypatch.setattr(training_clients.VertexJobClient, 'create_client', lambda self: None)
  monkeypatch.setattr(runner, '_launch_cloud_training', lambda **request: sent.update(request))
  properties = {name: parameter(vertex_tuned, 'Tuner', name)
                for name in ('custom_config', 'tune_args', 'tuner_fn', 'train_args', 'eval_args')}
  executor.Executor().Do({}, {}, properties)
  assert (sent['project'], sent['enable_vertex'], sent['vertex_region']) == ('my-project', True, 'europe-west4')
  job = checked_custom_job(sent['training_job'])
  pools = job['job_spec']['worker_pool_specs']
  machine = {'machine_type': 'n1-standard-8', 'accelerator_type': 'NVIDIA_TESLA_T4', 'accelerator_count': 2}
  assert [(p['machine_spec'], p['replica_count']) for p in pools] == [(machine, '1'), (machine, '2')]
  assert {p['container_spec']['image_uri'] for p in pools} == {'img:1'}
  command = pools[0]['container_spec']['command']
  assert command[command.index('--executor_class_path') + 1] == f'{executor.__name__}._WorkerExecutor'


def test_vertex_without_trainer_hardware_tunes_in_the_container_unless_trials_run_in_parallel():
  assert type(tuner_node()).__module__ == 'tfx.components.tuner.component'
  parallel = tuner_node('--tuner-parallel', '2', '--project', 'p', '--region', 'r')
  assert type(parallel).__module__ == 'tfx.extensions.google_cloud_ai_platform.tuner.component'
  pools = json.loads(parallel.exec_properties['custom_config'])['ai_platform_tuning_args']['job_spec'][
      'worker_pool_specs']
  assert [(p['machine_spec'], p['replica_count']) for p in pools] == [({'machine_type': 'n1-standard-4'}, 1)] * 2
  gpu = tuner_node('--accelerator', 'NVIDIA_L4', '--machine-type', 'g2-standard-8', '--project', 'p', '--region', 'r')
  assert json.loads(gpu.exec_properties['tune_args']) == {'num_parallel_trials': 1}
  assert len(json.loads(gpu.exec_properties['custom_config'])['ai_platform_tuning_args']['job_spec'][
      'worker_pool_specs']) == 1  # one machine, trials one at a time, on the Trainer's GPU.
  kfp = tuner_node('--target', 'kfp', '--accelerator', 'NVIDIA_L4', '--machine-type', 'g2-standard-8',
                   '--project', 'p', '--region', 'r')
  assert type(kfp).__module__ == 'tfx.components.tuner.component'


def test_tuning_flags_from_environment_variables():
  environ = {**ENV, 'TUNE': 'yes', 'TUNER_TRIALS': '8', 'TUNER_PARALLEL': '4', 'TUNER_SECONDS': '0',
             'GOOGLE_CLOUD_PROJECT': 'p', 'GOOGLE_CLOUD_REGION': 'r'}
  config = kubeflow_runner.cloud_config(kubeflow_runner.parse_args([], environ))
  assert (config.tune, config.tuner_trials, config.tuner_parallel, config.tuner_seconds) == (True, 8, 4, 0)
  assert config.tuner_on_vertex and not config.resolve_hyperparameters
  untuned = kubeflow_runner.cloud_config(kubeflow_runner.parse_args([], ENV))
  assert not (untuned.tune or untuned.tuner_on_vertex or untuned.resolve_hyperparameters)


@pytest.mark.parametrize('flags, message', [
    (('--target', 'kfp', '--tuner-parallel', '2'), '--tuner-parallel 2 needs --target vertex'),
    (('--tuner-parallel', '5', '--project', 'p', '--region', 'r'), 'is more than --tuner-trials 4'),
    (('--tuner-parallel', '2', '--accelerator', 'TPU_V3', '--machine-type', 'cloud-tpu', '--project', 'p',
      '--region', 'r'), '--tuner-parallel must be 1 with a TPU'),
    (('--tuner-parallel', '2',), 'parallel Vertex AI tuning trials need --project, --region'),
    (('--tuner-trials', '0',), '--tuner-trials must be at least 1, not 0'),
])
def test_contradictory_tuning_flags_are_clear_errors(flags, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.main(['compile', '--tune', *flags], ENV)
  assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_run_local_runs_the_vertex_tuner_behind_the_vertex_boundary():
  command = ['python', '-m', 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor']
  args = ['--executor_class_path', VERTEX_TUNER, '--json_serialized_invocation_args', '{}']
  wrapped = launcher.at_vertex_boundary(command, args, '/tmp/request.json')
  assert wrapped[:5] == ['python', '-m', 'pipeline.compiled.vertex_boundary', '/tmp/request.json', '--']
  assert wrapped[5:] == command[1:] + args
  in_container = ['--executor_class_path', IN_PIPELINE_TUNER]
  assert launcher.at_vertex_boundary(command, in_container, '/tmp/request.json') == command + in_container
