"""What the local KFP v2 launcher does per task, on the compiled specs of this pipeline and on hand-made pieces."""
import json

import pytest

from pipeline.compiled import launcher
from pipeline.compiled import spec as spec_lib
from pipeline.compiled.spec import Task
from test_kubeflow_runner import compile_to


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  """The kfp and vertex compilations with a local pipeline root: {target: CompiledPipeline}."""
  root = tmp_path_factory.mktemp('compiled')
  return {'kfp': spec_lib.read_spec(str(compile_to(root / 'p.yaml', '--target', 'kfp',
                                                    '--pipeline-root', str(root / 'root')))),
          'vertex': spec_lib.read_spec(str(compile_to(root / 'p.json', '--pipeline-root', str(root / 'root'))))}


def test_both_targets_read_as_tasks_in_dependency_order(compiled, tmp_path):
  for target, pipeline in compiled.items():
    order = [task.name for task in pipeline.tasks]
    for task in pipeline.tasks:
      assert all(order.index(up) < order.index(task.name) for up in task.upstream), (target, task.name)
    assert pipeline.name == 'taxi-big-tipper'
    assert pipeline.default_root.endswith('/root')
  assert {t.kind for t in compiled['kfp'].tasks} == {'container'}
  resolvers = [t.name for t in compiled['vertex'].tasks if t.kind == 'resolver']
  assert resolvers == ['latest_blessed_model_resolver-model-blessing-resolver',
                       'latest_blessed_model_resolver-model-resolver']
  with pytest.raises(ValueError, match='not a compiled pipeline'):
    (tmp_path / 'x.json').write_text('{"a": 1}')
    spec_lib.read_spec(str(tmp_path / 'x.json'))


def test_the_executor_input_wires_upstream_outputs_and_maps_image_paths(compiled, tmp_path):
  tasks = {t.name: t for t in compiled['kfp'].tasks}
  schema = {'name': 'run-local/r/CuratedSchemaGen/schema', 'type': {'schemaTitle': 'tfx.Schema'},
            'uri': '/x/schema', 'metadata': {}}
  results = {'CuratedSchemaGen': launcher.TaskResult('CuratedSchemaGen', 'COMPLETE', outputs={'schema': [schema]}),
             'StatisticsGen': launcher.TaskResult('StatisticsGen', 'COMPLETE', outputs={'statistics': []})}
  validator = tasks['ExampleValidator']
  inputs = launcher.input_artifacts(validator, results)
  assert inputs == {'schema': [schema], 'statistics': []}
  planned = launcher.planned_outputs(validator, str(tmp_path), 'r')
  assert planned == {'anomalies': [{'name': 'run-local/r/ExampleValidator/anomalies',
                                    'type': {'schemaTitle': 'tfx.ExampleAnomalies'},
                                    'uri': str(tmp_path / 'anomalies'), 'metadata': {}}]}
  invocation = launcher.executor_input(tasks['CuratedSchemaGen'], {}, {}, '/o.json', {'/pipeline/': '/ctx'})
  assert invocation['inputs']['parameterValues']['schema_file'] == '/ctx/schema/schema.pbtxt'
  assert invocation['inputs']['parameters']['schema_file'] == {'stringValue': '/ctx/schema/schema.pbtxt'}
  assert invocation['outputs']['outputFile'] == '/o.json'
  args = launcher.substitute(tasks['CuratedSchemaGen'].executor['container']['args'], invocation)
  assert json.loads(args[args.index('--json_serialized_invocation_args') + 1]) == invocation
  with pytest.raises(ValueError, match='unsupported placeholder'):
    launcher.substitute(["{{$.inputs.parameters['x']}}"], invocation)


def test_parameters_are_the_specs_constants_typed():
  assert spec_lib.constant({'runtimeValue': {'constantValue': {'intValue': '7'}}}) == 7
  assert spec_lib.constant({'runtimeValue': {'constant': 'x'}}) == 'x'
  assert launcher.typed_value(7) == {'intValue': '7'} and launcher.typed_value(0.5) == {'doubleValue': 0.5}
  with pytest.raises(ValueError):
    spec_lib.constant({'componentInputParameter': 'p'})
  assert spec_lib.map_image_paths('/pipeline/schema/s.pbtxt', {'/pipeline/': '/ctx'}) == '/ctx/schema/s.pbtxt'
  assert spec_lib.map_image_paths('/data/pipeline/x', {'/pipeline/': '/ctx'}) == '/data/pipeline/x'


def test_outputs_take_the_uris_and_metadata_the_executor_wrote(tmp_path):
  planned = {'model': [{'name': 'n', 'type': {'schemaTitle': 'tfx.Model'}, 'uri': '/a', 'metadata': {}}]}
  output_file = tmp_path / 'executor_output.json'
  assert launcher.outputs_written(planned, str(output_file)) == planned
  output_file.write_text(json.dumps({'artifacts': {'model': {'artifacts': [{'uri': '/b', 'metadata': {'x': 1.0}}]}}}))
  assert launcher.outputs_written(planned, str(output_file)) == {
      'model': [{'name': 'n', 'type': {'schemaTitle': 'tfx.Model'}, 'uri': '/b', 'metadata': {'x': 1.0}}]}


def artifact(name, title, **metadata):
  return {'name': name, 'type': {'schemaTitle': title}, 'uri': f'/{name}', 'metadata': metadata}


def test_resolvers_answer_from_earlier_runs_of_the_same_root(compiled, tmp_path):
  tasks = {t.name: t for t in compiled['vertex'].tasks}
  blessings, models = tasks['latest_blessed_model_resolver-model-blessing-resolver'], tasks[
      'latest_blessed_model_resolver-model-resolver']
  assert launcher.resolve(blessings, {}, str(tmp_path)) == {'model_blessing': []}  # nothing recorded yet
  launcher.record_artifacts(str(tmp_path), {'a': [artifact('m1', 'tfx.Model'), artifact('m2', 'tfx.Model')],
                                            'b': [artifact('b1', 'tfx.ModelBlessing', blessed=1.0,
                                                           current_model_id='m1'),
                                                  artifact('b2', 'tfx.ModelBlessing', blessed=0.0,
                                                           current_model_id='m2')]})
  found = launcher.resolve(blessings, {}, str(tmp_path))['model_blessing']
  assert [a['name'] for a in found] == ['b1']  # the newest blessed one
  assert [a['name'] for a in launcher.resolve(models, {'input': found}, str(tmp_path))['model']] == ['m1']
  assert launcher.resolve(models, {'input': []}, str(tmp_path)) == {'model': []}


def test_a_failing_task_stops_the_run_with_its_log(tmp_path):
  task = Task('Boom', {}, {}, {'container': {'command': ['python', '-c'],
                                             'args': ['import sys; print("what went wrong"); sys.exit(3)']}}, set())
  later = Task('Later', {}, {}, {'container': {'command': ['python', '-c'], 'args': ['pass']}}, {'Boom'})
  pipeline = spec_lib.CompiledPipeline('p', str(tmp_path), [task, later])
  seen = []
  results = launcher.run_pipeline(pipeline, str(tmp_path), 'r', 'python3', {'PATH': '/usr/bin:/bin'}, {},
                                  seen.append)
  assert [(r.name, r.state) for r in results] == [('Boom', 'FAILED'), ('Later', 'NOT RUN')] == [
      (r.name, r.state) for r in seen]
  assert 'exit code 3' in results[0].log and 'what went wrong' in results[0].log
