"""The Vertex compilation of the same pipeline definition."""
import json
import subprocess
import sys

from conftest import EXPECTED_NODES, REPO_ROOT


def test_compiles_a_vertex_pipeline_job_with_every_component(tmp_path):
  output = tmp_path / 'pipeline.json'
  env = {'PIPELINE_ROOT': 'gs://bucket/root', 'PIPELINE_OUTPUT': str(output), 'PIPELINE_IMAGE': 'img:1',
         'PATH': '/usr/bin:/bin'}
  process = subprocess.run([sys.executable, 'kubeflow_runner.py'], cwd=REPO_ROOT, env=env, capture_output=True,
                           text=True, timeout=600, check=False)
  assert process.returncode == 0, process.stderr
  job = json.loads(output.read_text())
  tasks = job['pipelineSpec']['root']['dag']['tasks']
  resolver = 'latest_blessed_model_resolver'
  assert set(tasks) >= EXPECTED_NODES - {resolver}
  assert any(t.startswith(resolver) for t in tasks)  # Vertex runs the resolver as its own tasks.
  assert 'DataGate' in tasks['Transform']['dependentTasks']
  assert job['runtimeConfig']['gcsOutputDirectory'] == 'gs://bucket/root'
  executors = job['pipelineSpec']['deploymentSpec']['executors']
  assert all(e['container']['image'] == 'img:1' for e in executors.values() if 'container' in e)


def test_missing_pipeline_root_is_a_clear_error(tmp_path):
  process = subprocess.run([sys.executable, 'kubeflow_runner.py'], cwd=REPO_ROOT, env={'PATH': '/usr/bin:/bin'},
                           capture_output=True, text=True, timeout=600, check=False)
  assert process.returncode != 0 and 'PIPELINE_ROOT' in process.stderr
