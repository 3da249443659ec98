"""kubeflow_runner.py: Vertex and KFP compilations of one pipeline, the tfx CLI, the image install, deploy."""
import inspect
import json
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import kfp
import kfp_server_api
import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

import kubeflow_runner
from conftest import EXPECTED_NODES, REPO_ROOT
from pipeline.compiled import image

REAL_CLIENT = kfp.Client
ENV = {'PIPELINE_ROOT': 'gs://bucket/root', 'PIPELINE_IMAGE': 'img:1'}
RESOLVER = 'latest_blessed_model_resolver'
VERTEX_TRAINER = 'tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor'
IN_PIPELINE_TRAINER = 'tfx.components.trainer.executor.GenericExecutor'
WIRING = {  # task: {input: (producer task, producer output)}, as the DAG in pipeline/dag.py declares it.
    'CsvExampleGen': {},
    'CuratedSchemaGen': {},
    'StatisticsGen': {'examples': ('CsvExampleGen', 'examples')},
    'ExampleValidator': {'statistics': ('StatisticsGen', 'statistics'), 'schema': ('CuratedSchemaGen', 'schema')},
    'DataGate': {'anomalies': ('ExampleValidator', 'anomalies'), 'examples': ('CsvExampleGen', 'examples')},
    'Transform': {'examples': ('CsvExampleGen', 'examples'), 'schema': ('CuratedSchemaGen', 'schema')},
    'Trainer': {'examples': ('CsvExampleGen', 'examples'),
                'transform_graph': ('Transform', 'transform_graph'), 'schema': ('CuratedSchemaGen', 'schema')},
    'Evaluator': {'examples': ('CsvExampleGen', 'examples'), 'model': ('Trainer', 'model'),
                  'schema': ('CuratedSchemaGen', 'evaluation_schema')},
    'Pusher': {'model': ('Trainer', 'model'), 'model_blessing': ('Evaluator', 'blessing')},
}
ACCELERATED = ('--accelerator', 'NVIDIA_TESLA_T4', '--accelerator-count', '2', '--machine-type', 'n1-standard-8',
               '--trainer-replicas', '3', '--project', 'my-project', '--region', 'europe-west4')


def compile_to(path: Path, *flags: str, environ=None) -> Path:
  """Runs `kubeflow_runner.py compile FLAGS --output path` in this process."""
  assert kubeflow_runner.main(['compile', *flags, '--output', str(path)], ENV if environ is None else environ) == 0
  return path


def wiring(spec: dict) -> dict:
  """{task: {input: (producer task, producer output)}} of a PipelineSpec's root DAG."""
  return {task: {name: (ref['taskOutputArtifact']['producerTask'], ref['taskOutputArtifact']['outputArtifactKey'])
                 for name, ref in body.get('inputs', {}).get('artifacts', {}).items()}
          for task, body in spec['root']['dag']['tasks'].items()}


def parameter(spec: dict, task: str, name: str) -> str:
  """A constant string parameter of a task."""
  value = spec['root']['dag']['tasks'][task]['inputs']['parameters'][name]['runtimeValue']
  return value['constantValue']['stringValue']


def executor_class(spec: dict, task: str) -> str:
  """The executor class a task's container runs."""
  args = spec['deploymentSpec']['executors'][f'{task}_executor']['container']['args']
  return args[args.index('--executor_class_path') + 1]


def auc_threshold(spec: dict) -> dict:
  """The Evaluator's AUC threshold as compiled: on the metric named 'auc'."""
  [metric] = json.loads(parameter(spec, 'Evaluator', 'eval_config'))['metrics_specs'][0]['metrics']
  assert json.loads(metric['config'])['name'] == 'auc'
  return metric['per_slice_thresholds'][0]['threshold']


def assert_outputs_exist(spec: dict) -> None:
  """Every artifact a task consumes is declared as an output of its producer's component."""
  for inputs in wiring(spec).values():
    for producer, output in inputs.values():
      component = spec['root']['dag']['tasks'][producer]['componentRef']['name']
      assert output in spec['components'][component]['outputDefinitions']['artifacts'], (producer, output)


def assert_untuned(spec: dict) -> None:
  """Without --tune: no Tuner, no resolver of earlier tunings, and the Trainer trains with the declared defaults."""
  tasks = spec['root']['dag']['tasks']
  assert 'Tuner' not in tasks and not [t for t in tasks if 'hyperparameters' in t]
  assert 'hyperparameters' not in wiring(spec)['Trainer']


@pytest.fixture(scope='module')
def vertex_job(tmp_path_factory):
  return json.loads(compile_to(tmp_path_factory.mktemp('vertex') / 'pipeline.json').read_text())


@pytest.fixture(scope='module')
def kfp_package(tmp_path_factory):
  return compile_to(tmp_path_factory.mktemp('kfp') / 'pipeline.yaml', '--target', 'kfp')


def test_vertex_target_is_a_pipeline_job_with_every_component_and_the_baseline(vertex_job):
  json_format.ParseDict(vertex_job, pipeline_spec_pb2.PipelineJob())
  spec = vertex_job['pipelineSpec']
  resolver_tasks = {t for t in spec['root']['dag']['tasks'] if t.startswith(RESOLVER)}
  assert resolver_tasks  # Vertex runs the resolver as tasks of its own.
  expected = {**WIRING, 'Evaluator': {**WIRING['Evaluator'],
                                      'baseline_model': (f'{RESOLVER}-model-resolver', 'model')}}
  assert {t: w for t, w in wiring(spec).items() if t not in resolver_tasks} == expected
  assert set(wiring(spec)) - resolver_tasks == EXPECTED_NODES
  assert_outputs_exist(spec)
  assert 'DataGate' in spec['root']['dag']['tasks']['Trainer']['dependentTasks']
  assert 'change_threshold' in auc_threshold(spec)
  assert_untuned(spec)
  assert vertex_job['runtimeConfig']['gcsOutputDirectory'] == 'gs://bucket/root'
  executors = spec['deploymentSpec']['executors']
  assert all(e['container']['image'] == 'img:1' for e in executors.values() if 'container' in e)


def test_without_an_accelerator_the_trainer_runs_in_the_pipeline(vertex_job):
  spec = vertex_job['pipelineSpec']
  assert executor_class(spec, 'Trainer') == IN_PIPELINE_TRAINER
  assert 'ai_platform_training_args' not in json.loads(parameter(spec, 'Trainer', 'custom_config'))


def test_kfp_target_is_a_bare_pipeline_spec_without_the_resolver(kfp_package):
  text = kfp_package.read_text()
  spec = yaml.safe_load(text)
  proto = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # strict: no unknown fields
  assert proto.pipeline_info.name == 'taxi-big-tipper'
  assert proto.default_pipeline_root == 'gs://bucket/root'
  assert kfp.components.load_component_from_file(str(kfp_package)).name == 'taxi-big-tipper'
  assert wiring(spec) == WIRING
  assert set(wiring(spec)) == EXPECTED_NODES
  assert_outputs_exist(spec)
  assert 'DataGate' in spec['root']['dag']['tasks']['Trainer']['dependentTasks']
  assert 'change_threshold' not in auc_threshold(spec)
  assert_untuned(spec)
  assert auc_threshold(spec)['value_threshold'] == {'lower_bound': 0.9}
  assert text.startswith('# PIPELINE DEFINITION')


def test_span_folders_and_warm_start_on_vertex(tmp_path):
  spec = json.loads(compile_to(tmp_path / 'pipeline.json', '--span-folders', '--warm-start').read_text())[
      'pipelineSpec']
  assert 'span-{SPAN}/*.csv' in parameter(spec, 'CsvExampleGen', 'input_config')
  assert wiring(spec)['Trainer']['base_model'] == (f'{RESOLVER}-model-resolver', 'model')


def test_kfp_compile_says_it_validates_on_absolute_thresholds_only(tmp_path, capsys):
  compile_to(tmp_path / 'pipeline.yaml', '--target', 'kfp')
  out = capsys.readouterr().out
  assert 'cannot execute TFX Resolver nodes' in out and 'absolute thresholds only' in out
  assert f'Wrote {tmp_path / "pipeline.yaml"}' in out


def test_an_accelerator_makes_the_trainer_a_vertex_custom_job(tmp_path, capsys):
  spec = json.loads(compile_to(tmp_path / 'pipeline.json', *ACCELERATED).read_text())['pipelineSpec']
  assert executor_class(spec, 'Trainer') == VERTEX_TRAINER
  custom_config = json.loads(parameter(spec, 'Trainer', 'custom_config'))
  assert custom_config['ai_platform_enable_vertex'] is True
  assert custom_config['ai_platform_vertex_region'] == 'europe-west4'
  assert 'code_sha256' in custom_config
  training = custom_config['ai_platform_training_args']
  assert training['project'] == 'my-project'
  machine = {'machine_type': 'n1-standard-8', 'accelerator_type': 'NVIDIA_TESLA_T4', 'accelerator_count': 2}
  assert training['job_spec']['worker_pool_specs'] == [
      {'machine_spec': machine, 'replica_count': 1, 'container_spec': {'image_uri': 'img:1'}},
      {'machine_spec': machine, 'replica_count': 2, 'container_spec': {'image_uri': 'img:1'}}]
  assert parameter(spec, 'Trainer', 'run_fn') == 'models.trainer.run_fn'
  assert wiring(spec)['Trainer'] == WIRING['Trainer']
  assert 'Vertex AI custom job in my-project/europe-west4, 3 replica(s)' in capsys.readouterr().out


def test_a_tpu_trainer_from_environment_variables(tmp_path):
  environ = {**ENV, 'TRAINER_ACCELERATOR': 'TPU_V3', 'TRAINER_ACCELERATOR_COUNT': '8',
             'TRAINER_MACHINE_TYPE': 'cloud-tpu', 'GOOGLE_CLOUD_PROJECT': 'p', 'GOOGLE_CLOUD_REGION': 'us-central1'}
  spec = json.loads(compile_to(tmp_path / 'pipeline.json', environ=environ).read_text())['pipelineSpec']
  pools = json.loads(parameter(spec, 'Trainer', 'custom_config'))['ai_platform_training_args']['job_spec'][
      'worker_pool_specs']
  tpu = {'machine_type': 'cloud-tpu', 'accelerator_type': 'TPU_V3', 'accelerator_count': 8}
  assert pools == [{'machine_spec': tpu, 'replica_count': 1, 'container_spec': {'image_uri': 'img:1'}}]


@pytest.mark.parametrize('flags, message', [
    (('--accelerator', 'NVIDIA_T4'), 'not a Vertex AI accelerator type'),
    (('--accelerator', 'NVIDIA_L4', '--project', 'p', '--region', 'r'), 'needs --machine-type'),
    (('--accelerator', 'NVIDIA_L4', '--machine-type', 'g2-standard-8'), 'needs --project, --region'),
    (('--accelerator', 'TPU_V3', '--machine-type', 'cloud-tpu', '--trainer-replicas', '2', '--project', 'p',
      '--region', 'r'), 'runs on one host'),
    (('--beam-runner', 'dataflow',), '--beam-runner dataflow needs --project and --region'),
    (('--warm-start', '--target', 'kfp'), '--warm-start needs the latest blessed model resolver'),
])
def test_contradictory_settings_are_clear_errors(flags, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.main(['compile', *flags], ENV)
  assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_missing_pipeline_root_is_a_clear_error(capsys):
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.main([], {})
  assert exit_info.value.code == 2 and 'PIPELINE_ROOT' in capsys.readouterr().err


def test_dataflow_runs_beam_on_the_pipeline_image():
  args = kubeflow_runner.parse_args(['--beam-runner', 'dataflow', '--project', 'my-project', '--region', 'r'], ENV)
  assert kubeflow_runner.beam_args(args) == (
      '--runner=DataflowRunner', '--project=my-project', '--region=r', '--temp_location=gs://bucket/root/tmp',
      '--staging_location=gs://bucket/root/staging', '--sdk_container_image=img:1', '--experiments=use_runner_v2')
  direct = kubeflow_runner.parse_args(['--beam-workers', '0', '--beam-arg=--x=1'], ENV)
  assert kubeflow_runner.beam_args(direct) == (
      '--direct_running_mode=multi_processing', '--direct_num_workers=0', '--x=1')
  assert kubeflow_runner.beam_args(kubeflow_runner.parse_args([], ENV)) == ()


DATAFLOW = ['--beam-runner', 'dataflow', '--project', 'my-project', '--region', 'us-central1']


def test_dataflow_options_with_a_service_account_and_network_pass_beams_validators():
  args = kubeflow_runner.parse_args(
      DATAFLOW + ['--service-account', 'runner@my-project.iam.gserviceaccount.com', '--network', 'shared-vpc',
                  '--subnetwork', 'regions/us-central1/subnetworks/dataflow', '--beam-arg=--max_num_workers=8'],
      {**ENV, 'BEAM_STAGING_LOCATION': 'gs://other-bucket/staging'})
  options = kubeflow_runner.beam_args(args)
  assert {'--service_account_email=runner@my-project.iam.gserviceaccount.com', '--network=shared-vpc',
          '--subnetwork=regions/us-central1/subnetworks/dataflow', '--staging_location=gs://other-bucket/staging',
          '--max_num_workers=8'} <= set(options)
  assert kubeflow_runner.dataflow_option_errors(options) == []


@pytest.mark.parametrize('flags, environ, message', [
    (['--project', 'My_Project'], {}, 'Invalid Project ID (My_Project)'),
    ([], {'PIPELINE_ROOT': '/tmp/local-root'}, 'Invalid GCS path (/tmp/local-root/tmp), given for the option: '
                                                'temp_location'),
    (['--beam-arg=--max_num_wrkers=8'], {}, 'unknown Beam option --max_num_wrkers=8'),
    (['--beam-arg=--num_workers=-1'], {}, 'Invalid value (-1) for option: num_workers'),
])
def test_dataflow_options_beam_rejects_stop_the_compile_with_beams_reason(flags, environ, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.parse_args(DATAFLOW + flags, {**ENV, **environ})
  assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_environment_defaults_are_checked_like_flags(capsys):
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.parse_args([], {**ENV, 'BEAM_RUNNER': 'flink'})
  assert exit_info.value.code == 2 and "BEAM_RUNNER) 'flink' is not one of direct, dataflow" in capsys.readouterr().err
  assert not kubeflow_runner.parse_args([], {**ENV, 'SPAN_FOLDERS': '0', 'WARM_START': 'no'}).span_folders
  assert kubeflow_runner.parse_args([], {**ENV, 'SPAN_FOLDERS': 'True'}).span_folders
  with pytest.raises(SystemExit, match="SPAN_FOLDERS='maybe' is not a boolean"):
    kubeflow_runner.parse_args([], {**ENV, 'SPAN_FOLDERS': 'maybe'})


def test_tfx_cli_pipeline_create_with_the_vertex_engine(tmp_path):
  venv_bin = Path(sys.executable).parent
  env = {**ENV, 'HOME': str(tmp_path), 'VERTEX_HOME': str(tmp_path / 'vertex'),
         'PATH': f'{venv_bin}:/usr/bin:/bin', 'TF_CPP_MIN_LOG_LEVEL': '2'}
  process = subprocess.run([str(venv_bin / 'tfx'), 'pipeline', 'create', '--engine', 'vertex',
                            '--pipeline_path', str(REPO_ROOT / 'kubeflow_runner.py')],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
  assert process.returncode == 0, process.stdout + process.stderr
  assert 'Pipeline "taxi-big-tipper" created successfully' in process.stdout
  job = json.loads((tmp_path / 'vertex' / 'taxi-big-tipper' / 'pipeline.json').read_text())
  assert set(job['pipelineSpec']['root']['dag']['tasks']) >= EXPECTED_NODES
  assert not (tmp_path / 'pipeline.json').exists()  # the CLI, not the runner's default, chose the file.


IMPORT_PROBE = """
import importlib, json, os, sys
found = {}
for path in sys.argv[1:]:
  module, name = path.rsplit('.', 1)
  getattr(importlib.import_module(module), name)
  found[path] = sys.modules[module].__file__
import schema
found['schema.pbtxt'] = os.path.join(os.path.dirname(schema.__file__), 'schema.pbtxt')
print(json.dumps(found))
"""


def project_code(spec: dict) -> set:
  """The dotted paths of this project's code that a compiled pipeline names (executor classes, functions)."""
  tasks = [t for t, e in spec['deploymentSpec']['executors'].items() if 'container' in e]
  classes = {executor_class(spec, task.removesuffix('_executor')) for task in tasks}
  functions = {parameter(spec, 'Trainer', 'run_fn'), parameter(spec, 'Transform', 'preprocessing_fn')}
  return {path for path in classes | functions if not path.startswith('tfx.')}


def test_setup_py_installs_what_the_compiled_pipeline_imports(vertex_job, tmp_path):
  code = project_code(vertex_job['pipelineSpec'])
  assert code == {'models.trainer.run_fn', 'preprocessing.transform.preprocessing_fn',
                  'pipeline.ingest.example_gen.Executor', 'pipeline.gates.data.DataGate_Executor',
                  'pipeline.ingest.schema_import.CuratedSchemaExecutor', 'pipeline.serving.pusher.AtomicPusherExecutor'}
  venv = tmp_path / 'venv'
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, timeout=300)
  site_packages = next((venv / 'lib').glob('python3*/site-packages'))
  stack = Path(kfp.__file__).parents[1]  # TFX and its stack, as the base image provides them.
  (site_packages / 'tfx_stack.pth').write_text(f'import site; site.addsitedir({str(stack)!r})\n')
  install = subprocess.run(
      [sys.executable, '-m', 'pip', '--python', str(venv / 'bin' / 'python'), 'install', '--quiet', '--no-deps',
       '--no-index', '--no-build-isolation', str(image.build_context(REPO_ROOT, tmp_path / 'context'))],
      capture_output=True, text=True, timeout=600, check=False)
  assert install.returncode == 0, install.stdout + install.stderr
  probe = subprocess.run([str(venv / 'bin' / 'python'), '-c', IMPORT_PROBE, *sorted(code),
                          'pipeline.ingest.schema_import.CuratedSchemaGen',
                          'pipeline.evaluation.classifier_metrics.ClassifierMetrics'],
                         cwd=tmp_path, env={'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path)},
                         capture_output=True, text=True, timeout=600, check=False)
  assert probe.returncode == 0, probe.stderr[-3000:]
  found = json.loads(probe.stdout.strip().splitlines()[-1])
  assert all(Path(file).is_relative_to(site_packages) for file in found.values()), found
  assert Path(found['schema.pbtxt']).is_file()


class RecordingClient:
  """Stands in for kfp.Client: binds each call to the real method's signature, records it, returns a canned answer."""

  def __init__(self, answers, *args, **kwargs):
    self.answers = answers
    self.calls = [('Client', self.bind(REAL_CLIENT.__init__, args, kwargs))]

  def bind(self, method, args, kwargs) -> dict:
    """The call's arguments by name, as the real method would receive them (TypeError when it would not)."""
    arguments = inspect.signature(method).bind(self, *args, **kwargs).arguments
    return {name: value for name, value in arguments.items() if name != 'self'}

  def __getattr__(self, name):
    def call(*args, **kwargs):
      self.calls.append((name, self.bind(getattr(REAL_CLIENT, name), args, kwargs)))
      answer = self.answers[name]
      if isinstance(answer, Exception):
        raise answer
      return answer
    return call

  def called(self, name):
    """The arguments of every call of a method, in order."""
    return [arguments for call, arguments in self.calls if call == name]


@pytest.fixture
def kfp_client(monkeypatch):
  """Replaces kfp.Client; a test may change .answers before deploying and reads .instance afterwards."""
  box = SimpleNamespace(instance=None, answers={
      'get_pipeline_id': None,
      'upload_pipeline': SimpleNamespace(pipeline_id='p-1'),
      'list_pipeline_versions': SimpleNamespace(pipeline_versions=[SimpleNamespace(pipeline_version_id='v-0')]),
      'upload_pipeline_version': SimpleNamespace(pipeline_version_id='v-2'),
      'create_experiment': SimpleNamespace(experiment_id='e-1'),
      'run_pipeline': SimpleNamespace(run_id='r-1'),
      'create_recurring_run': SimpleNamespace(recurring_run_id='rr-1'),
  })

  def client(*args, **kwargs):
    box.instance = RecordingClient(box.answers, *args, **kwargs)
    return box.instance

  monkeypatch.setattr(kfp, 'Client', client)
  return box


def deploy(package: Path, *flags: str) -> int:
  return kubeflow_runner.main(['deploy', '--endpoint', 'http://kfp:8888', '--output', str(package), *flags], ENV)


def test_deploy_uploads_a_new_pipeline_and_starts_a_run(kfp_client, tmp_path):
  package = tmp_path / 'pipeline.yaml'
  assert deploy(package, '--run', '--experiment', 'nightly') == 0
  client = kfp_client.instance
  assert client.called('Client') == [{'host': 'http://kfp:8888'}]
  assert client.called('get_pipeline_id') == [{'name': 'taxi-big-tipper'}]
  [upload] = client.called('upload_pipeline')
  assert upload['pipeline_package_path'] == str(package) and upload['pipeline_name'] == 'taxi-big-tipper'
  spec = json_format.ParseDict(yaml.safe_load(package.read_text()), pipeline_spec_pb2.PipelineSpec())
  assert not any(task.startswith(RESOLVER) for task in spec.root.dag.tasks)
  assert client.called('list_pipeline_versions') == [{'pipeline_id': 'p-1', 'page_size': 1}]
  assert not client.called('upload_pipeline_version')
  assert client.called('create_experiment') == [{'name': 'nightly', 'namespace': None}]
  [run] = client.called('run_pipeline')
  assert (run['experiment_id'], run['pipeline_id'], run['version_id']) == ('e-1', 'p-1', 'v-0')
  assert run['pipeline_root'] == 'gs://bucket/root' and run['job_name'].startswith('taxi-big-tipper ')
  assert not client.called('create_recurring_run')


def test_deploy_adds_a_version_to_an_existing_pipeline_and_schedules_it(kfp_client, tmp_path, capsys):
  kfp_client.answers['get_pipeline_id'] = 'p-7'
  package = tmp_path / 'pipeline.yaml'
  assert deploy(package, '--version', 'v42', '--schedule', '0 3 * * *', '--namespace', 'team-a') == 0
  client = kfp_client.instance
  assert client.called('Client') == [{'host': 'http://kfp:8888', 'namespace': 'team-a'}]
  assert not client.called('upload_pipeline')
  assert client.called('upload_pipeline_version') == [
      {'pipeline_package_path': str(package), 'pipeline_version_name': 'v42', 'pipeline_id': 'p-7'}]
  assert client.called('create_experiment') == [{'name': 'taxi-big-tipper', 'namespace': 'team-a'}]
  assert not client.called('run_pipeline')
  [recurring] = client.called('create_recurring_run')
  assert recurring['cron_expression'] == '0 0 3 * * *'
  assert (recurring['experiment_id'], recurring['pipeline_id'], recurring['version_id']) == ('e-1', 'p-7', 'v-2')
  assert recurring['pipeline_root'] == 'gs://bucket/root' and recurring['max_concurrency'] == 1
  assert 'Scheduled recurring run rr-1' in capsys.readouterr().out


def test_deploy_without_run_or_schedule_only_uploads(kfp_client, tmp_path):
  assert deploy(tmp_path / 'pipeline.yaml') == 0
  assert [call for call, _ in kfp_client.instance.calls] == [
      'Client', 'get_pipeline_id', 'upload_pipeline', 'list_pipeline_versions']


def test_an_api_error_names_the_endpoint(kfp_client, tmp_path):
  kfp_client.answers['upload_pipeline'] = kfp_server_api.ApiException(status=403, reason='Forbidden')
  with pytest.raises(SystemExit, match=r'Kubeflow Pipelines at http://kfp:8888: ApiException.*403'):
    deploy(tmp_path / 'pipeline.yaml')


@pytest.mark.parametrize('schedule', ['* * *', 'every day'])
def test_a_malformed_schedule_is_refused_before_anything_runs(schedule, capsys):
  with pytest.raises(SystemExit):
    kubeflow_runner.main(['deploy', '--endpoint', 'http://kfp:8888', '--schedule', schedule], ENV)
  assert 'a cron expression has 5 fields' in capsys.readouterr().err


def test_deploy_to_an_unreachable_endpoint_is_a_clear_error(tmp_path):
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    endpoint = f'http://127.0.0.1:{s.getsockname()[1]}'  # nothing listens once the socket is closed.
  with pytest.raises(SystemExit, match=f'cannot reach Kubeflow Pipelines at {endpoint}') as exit_info:
    kubeflow_runner.main(['deploy', '--endpoint', endpoint, '--output', str(tmp_path / 'p.yaml'), '--run'], ENV)
  assert 'Connection refused' in str(exit_info.value)


def compile_process(output: Path, *flags: str) -> subprocess.CompletedProcess:
  """`python kubeflow_runner.py compile --target kfp --output OUTPUT FLAGS` as a user runs it."""
  return subprocess.run([sys.executable, 'kubeflow_runner.py', 'compile', '--target', 'kfp', '--output', str(output),
                         *flags], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=600, check=False)


def test_a_compile_prints_its_own_lines_and_nothing_the_libraries_write(tmp_path):
  process = compile_process(tmp_path / 'pipeline.yaml')
  assert process.returncode == 0, process.stdout + process.stderr
  assert process.stderr == ''  # TensorFlow's C++ registrations, google-api-core's and absl's warnings: none
  lines = process.stdout.splitlines()
  assert len(lines) == 4 and lines[0].startswith('kfp target: ') and lines[-1] == f'Wrote {tmp_path / "pipeline.yaml"}'


def test_verbose_compile_shows_what_the_libraries_write(tmp_path):
  process = compile_process(tmp_path / 'pipeline.yaml', '--verbose')
  assert process.returncode == 0, process.stdout + process.stderr
  assert 'WARNING:absl:' in process.stderr and 'FutureWarning' in process.stderr
  assert process.stdout.splitlines()[-1] == f'Wrote {tmp_path / "pipeline.yaml"}'


INFERENCE_WIRING = {
    'InferenceExampleGen': {},
    'InferenceStatisticsGen': {'examples': ('InferenceExampleGen', 'examples')},
    'InferenceDataGate': {'statistics': ('InferenceStatisticsGen', 'statistics'),
                          'schema': ('CuratedSchemaGen', 'schema'), 'examples': ('InferenceExampleGen', 'examples')},
    'BulkInferrer': {'examples': ('InferenceExampleGen', 'examples'), 'model': ('Trainer', 'model'),
                     'model_blessing': ('Evaluator', 'blessing')},
    'PredictionsWriter': {'examples': ('InferenceExampleGen', 'examples'), 'model': ('Trainer', 'model'),
                          'inference_result': ('BulkInferrer', 'inference_result')},
}


@pytest.mark.parametrize('target, name', [('kfp', 'pipeline.yaml'), ('vertex', 'pipeline.json')])
def test_inference_data_adds_bulk_inferrer_on_the_blessed_model_and_the_predictions_writer(target, name, tmp_path):
  path = compile_to(tmp_path / name, '--target', target, environ={**ENV, 'INFERENCE_DATA': 'gs://bucket/to_score'})
  text = path.read_text()
  spec = yaml.safe_load(text) if target == 'kfp' else json.loads(text)['pipelineSpec']
  found = wiring(spec)
  assert {task: found[task] for task in INFERENCE_WIRING} == INFERENCE_WIRING
  assert_outputs_exist(spec)
  assert set(found) - set(INFERENCE_WIRING) >= set(WIRING)
  assert 'InferenceDataGate' in spec['root']['dag']['tasks']['Trainer']['dependentTasks']
  assert 'Pusher' in spec['root']['dag']['tasks']['BulkInferrer']['dependentTasks']
  assert parameter(spec, 'PredictionsWriter', 'predictions_root') == 'gs://bucket/root/predictions'
  assert executor_class(spec, 'PredictionsWriter') == 'pipeline.inference.predictions.Executor'
  assert executor_class(spec, 'InferenceExampleGen') == 'pipeline.ingest.example_gen.InputOrderExecutor'
  without = wiring(yaml.safe_load(compile_to(tmp_path / 'plain.yaml', '--target', 'kfp').read_text()))
  assert not set(INFERENCE_WIRING) & set(without)
