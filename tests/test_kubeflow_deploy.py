"""kubeflow_runner.py deploy against the Kubeflow Pipelines REST API on loopback: the requests kfp.Client really
sends, each body checked against the API's message types, with the cluster's authentication."""
import pytest
import yaml

import kubeflow_runner
from kfp_api_server import KfpApi, serving, uploaded_spec
from test_kubeflow_runner import ENV

TOKEN = 'eyJhbGciOi.test-token'


def deploy(endpoint: str, package, *flags: str, environ=None) -> int:
  return kubeflow_runner.main(['deploy', '--endpoint', endpoint, '--output', str(package), *flags],
                              {**ENV, **(environ or {})})


def test_a_new_pipeline_is_uploaded_and_run_with_a_token(tmp_path):
  api = KfpApi()
  package = tmp_path / 'pipeline.yaml'
  with serving(api) as endpoint:
    assert deploy(endpoint, package, '--run', '--experiment', 'nightly', environ={'KF_PIPELINES_TOKEN': TOKEN}) == 0
  assert all(r['headers'].get('authorization') == f'Bearer {TOKEN}' for r in api.requests)
  [upload] = api.bodies('POST', '/pipelines/upload')
  assert uploaded_spec(upload) == yaml.safe_load(package.read_text())
  assert [r['query']['name'] for r in api.requests if r['path'].endswith('/pipelines/upload')] == ['taxi-big-tipper']
  assert api.bodies('POST', '/experiments') == [{'display_name': 'nightly', 'namespace': ''}]  # no profile namespace
  [run] = api.bodies('POST', '/runs')
  assert run['experiment_id'] == 'e-1' and run['display_name'].startswith('taxi-big-tipper ')
  assert run['pipeline_version_reference'] == {'pipeline_id': 'p-1', 'pipeline_version_id': 'p-1-v1'}
  assert run['runtime_config']['pipeline_root'] == 'gs://bucket/root'
  assert not api.bodies('POST', '/recurringruns')


def test_an_existing_pipeline_gets_a_version_and_a_schedule_with_cookies(tmp_path, capsys):
  api = KfpApi(pipelines={'taxi-big-tipper': 'p-7'})
  api.experiments['team'] = 'e-9'
  with serving(api) as endpoint:
    assert deploy(endpoint, tmp_path / 'pipeline.yaml', '--version', 'v42', '--schedule', '0 3 * * *',
                  '--experiment', 'team', '--cookies', 'authservice_session=abc') == 0
  assert all(r['headers'].get('cookie') == 'authservice_session=abc' for r in api.requests)
  assert not api.bodies('POST', '/pipelines/upload') and not api.bodies('POST', '/experiments')
  [version] = [r['query'] for r in api.requests if r['path'].endswith('/pipelines/upload_version')]
  assert (version['name'], version['pipelineid']) == ('v42', 'p-7')
  [recurring] = api.bodies('POST', '/recurringruns')
  assert recurring['trigger'] == {'cron_schedule': {'cron': '0 0 3 * * *'}}
  assert (recurring['max_concurrency'], recurring['no_catchup'], recurring['experiment_id']) == (1, True, 'e-9')
  assert recurring['pipeline_version_reference'] == {'pipeline_id': 'p-7', 'pipeline_version_id': 'p-7-v1'}
  assert 'Scheduled recurring run rr-1' in capsys.readouterr().out


def test_a_body_the_api_would_refuse_is_caught():
  unknown = r"fields the KFP API does not have: \['pipeline_version_reference.pipelin_id'\]"
  with pytest.raises(ValueError, match=unknown):
    KfpApi().answer('POST', '/apis/v2beta1/runs', {}, b'{"pipeline_version_reference": {"pipelin_id": "p"}}')
