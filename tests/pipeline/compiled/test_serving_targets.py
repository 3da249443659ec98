"""compile --endpoint-name: the vertex target's Pusher is TFX's Vertex AI Pusher with the endpoint's settings, and
its executor, on the compiled parameters, sends the Vertex AI SDK's requests to the run-local stand-in."""
import json
import subprocess
import sys
import textwrap

import pytest
import yaml

import kubeflow_runner
from conftest import REPO_ROOT
from pipeline.compiled import launcher
from pipeline.compiled.vertex_endpoint import VertexStandIn
from test_kubeflow_runner import ENV, WIRING, compile_to, executor_class, parameter, wiring

VERTEX_PUSHER = 'tfx.extensions.google_cloud_ai_platform.pusher.executor.Executor'
ATOMIC_PUSHER = 'pipeline.serving.pusher.AtomicPusherExecutor'
ENDPOINT = ('--endpoint-name', 'taxi-tips', '--serving-machine-type', 'n1-standard-4', '--min-replicas', '2',
            '--max-replicas', '5', '--project', 'my-project', '--region', 'europe-west4')
PUSH = textwrap.dedent('''
    import json, sys
    from tfx.extensions.google_cloud_ai_platform.pusher import executor
    from tfx.types import standard_artifacts
    from pipeline.compiled import vertex_endpoint
    custom_config, model_uri, blessing_uri, pushed_uri, request_file = sys.argv[1:6]
    vertex_endpoint.stand_in(request_file)
    model, blessing, pushed = (standard_artifacts.Model(), standard_artifacts.ModelBlessing(),
                               standard_artifacts.PushedModel())
    model.uri, blessing.uri, pushed.uri = model_uri, blessing_uri, pushed_uri
    blessing.set_int_custom_property('blessed', 1)
    executor.Executor().Do({'model': [model], 'model_blessing': [blessing]}, {'pushed_model': [pushed]},
                           {'custom_config': custom_config})
    print(json.dumps({'pushed': pushed.get_int_custom_property('pushed'),
                      'destination': pushed.get_string_custom_property('pushed_destination')}))
''')


@pytest.fixture(scope='module')
def vertex_endpoint_spec(tmp_path_factory):
  return json.loads(compile_to(tmp_path_factory.mktemp('vertex') / 'pipeline.json', *ENDPOINT).read_text())[
      'pipelineSpec']


def test_vertex_pushes_to_the_model_registry_and_the_endpoint_with_its_machines(vertex_endpoint_spec):
  assert executor_class(vertex_endpoint_spec, 'Pusher') == VERTEX_PUSHER
  assert json.loads(parameter(vertex_endpoint_spec, 'Pusher', 'custom_config')) == {
      'ai_platform_enable_vertex': True,
      'ai_platform_vertex_region': 'europe-west4',
      'ai_platform_vertex_container_image_uri': 'europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest',
      'ai_platform_serving_args': {'project_id': 'my-project', 'endpoint_name': 'taxi-tips',
                                   'machine_type': 'n1-standard-4', 'min_replica_count': 2, 'max_replica_count': 5}}
  assert 'push_destination' not in vertex_endpoint_spec['root']['dag']['tasks']['Pusher']['inputs']['parameters']
  assert wiring(vertex_endpoint_spec)['Pusher'] == WIRING['Pusher']


def test_without_an_endpoint_both_targets_push_atomically_to_the_pipeline_root(tmp_path):
  for target, name in (('vertex', 'pipeline.json'), ('kfp', 'pipeline.yaml')):
    text = compile_to(tmp_path / name, '--target', target).read_text()
    spec = json.loads(text)['pipelineSpec'] if target == 'vertex' else yaml.safe_load(text)
    assert executor_class(spec, 'Pusher') == ATOMIC_PUSHER
    assert 'gs://bucket/root/serving_model' in parameter(spec, 'Pusher', 'push_destination')


def test_endpoint_flags_from_environment_variables_and_a_serving_image_of_ones_own():
  environ = {**ENV, 'VERTEX_ENDPOINT': 'e', 'SERVING_MACHINE_TYPE': 'n1-highmem-2', 'SERVING_MIN_REPLICAS': '1',
             'SERVING_MAX_REPLICAS': '3', 'SERVING_IMAGE': 'us-docker.pkg.dev/p/r/serving:1',
             'GOOGLE_CLOUD_PROJECT': 'p', 'GOOGLE_CLOUD_REGION': 'us-east1'}
  endpoint = kubeflow_runner.cloud_config(kubeflow_runner.parse_args([], environ)).serving_endpoint
  assert (endpoint.name, endpoint.machine_type, endpoint.min_replicas, endpoint.max_replicas, endpoint.image,
          endpoint.project, endpoint.region) == ('e', 'n1-highmem-2', 1, 3, 'us-docker.pkg.dev/p/r/serving:1', 'p',
                                                 'us-east1')
  assert not kubeflow_runner.cloud_config(kubeflow_runner.parse_args([], ENV)).serving_endpoint.name


@pytest.mark.parametrize('flags, message', [
    (('--target', 'kfp', *ENDPOINT), '--endpoint-name taxi-tips needs --target vertex'),
    (('--endpoint-name', 'e'), 'a Vertex AI endpoint needs --project, --region, --serving-image'),
    (('--endpoint-name', 'e', '--project', 'p', '--region', 'r', '--serving-image', 'i', '--min-replicas', '3',
      '--max-replicas', '2'), '--max-replicas 2 is less than --min-replicas 3'),
    (('--endpoint-name', 'e', '--project', 'p', '--region', 'r', '--serving-image', 'i', '--min-replicas', '0'),
     '--min-replicas must be at least 1, not 0'),
    (('--max-replicas', '3'), '--serving-machine-type, --min-replicas and --max-replicas need --endpoint-name'),
    (('--endpoint-name', 'e', '--project', 'p', '--region', 'me-west1'),
     'Unsupported container region `me`, supported regions are us, europe, asia. See'),
])
def test_contradictory_endpoint_flags_are_clear_errors(flags, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    kubeflow_runner.main(['compile', *flags], ENV)
  assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_vertex_pusher_on_the_compiled_parameters_sends_requests_the_vertex_api_takes(vertex_endpoint_spec,
                                                                                         tmp_path):
  """TFX's Vertex Pusher executor and the Vertex AI SDK, up to the API clients (run-local's stand-in)."""
  serving = tmp_path / 'model' / 'Format-Serving'
  serving.mkdir(parents=True)
  (serving / 'saved_model.pb').write_bytes(b'graph')
  request_file = tmp_path / launcher.VERTEX_DEPLOY_REQUESTS
  process = subprocess.run(
      [sys.executable, '-c', PUSH, parameter(vertex_endpoint_spec, 'Pusher', 'custom_config'), str(tmp_path / 'model'),
       str(tmp_path / 'blessing'), str(tmp_path / 'pushed'), str(request_file)],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert process.returncode == 0, process.stderr
  parent = 'projects/my-project/locations/europe-west4'
  assert json.loads(process.stdout.splitlines()[-1]) == {'pushed': 1, 'destination': f'{parent}/models/1'}
  assert (tmp_path / 'pushed' / 'saved_model.pb').read_bytes() == b'graph'  # the copy the model is uploaded from
  requests = json.loads(request_file.read_text())
  assert [r['method'] for r in requests] == ['EndpointService.CreateEndpoint', 'ModelService.UploadModel',
                                             'EndpointService.DeployModel']
  create, upload, deploy = (r['request'] for r in requests)
  assert create['parent'] == parent and create['endpoint']['display_name'] == 'taxi-tips'
  assert upload['parent'] == parent
  assert upload['model']['artifact_uri'] == str(tmp_path / 'pushed')
  assert upload['model']['container_spec'] == {
      'image_uri': 'europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest'}
  assert deploy['endpoint'] == f'{parent}/endpoints/1'
  assert deploy['deployed_model']['model'] == f'{parent}/models/1@1'
  assert deploy['deployed_model']['dedicated_resources'] == {
      'machine_spec': {'machine_type': 'n1-standard-4'}, 'min_replica_count': 2, 'max_replica_count': 5}
  assert deploy['traffic_split'] == {'0': 100}


def test_the_stand_in_refuses_a_request_vertex_would_refuse():
  api = VertexStandIn('/dev/null')
  with pytest.raises(ValueError, match='DeployModelRequest the Vertex AI SDK built is not a valid Vertex AI request'):
    api.deploy_model(endpoint='projects/p/locations/r/endpoints/1',
                     deployed_model={'dedicated_resources': {'machine_spek': {'machine_type': 'n1-standard-2'}}})
  assert api.requests == []


def test_run_local_runs_the_vertex_pusher_behind_the_vertex_boundary():
  command = ['python', '-m', 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor']
  args = ['--executor_class_path', VERTEX_PUSHER, '--json_serialized_invocation_args', '{}']
  wrapped = launcher.at_vertex_boundary(command, args, '/tmp/requests.json')
  assert wrapped[:5] == ['python', '-m', 'pipeline.compiled.vertex_boundary', '/tmp/requests.json', '--']
  assert launcher.at_vertex_boundary(command, ['--executor_class_path', ATOMIC_PUSHER], 'f') == \
      command + ['--executor_class_path', ATOMIC_PUSHER]
