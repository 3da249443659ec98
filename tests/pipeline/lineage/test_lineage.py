"""pipeline/lineage/ on the shared small run: a model's chain, consumers, runs, diffs, the DAG and the CLI."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from conftest import E2E_TRAIN_STEPS, EXPECTED_NODES, REPO_ROOT, pushed_model_dir
from models.contract import HPARAMS_FILE
from models.model import HParams
from pipeline import config as config_lib
from pipeline import metadata
from pipeline.lineage import cli, picture, queries, text
from pipeline.lineage import diff as run_diff
from pipeline.reporting import run_summary

CHAIN_MAKERS = {'ExampleStatistics': 'StatisticsGen', 'Schema': 'CuratedSchemaGen',
                'ExampleAnomalies': 'ExampleValidator', 'TransformGraph': 'Transform', 'Model': 'Trainer',
                'ModelEvaluation': 'Evaluator', 'ModelBlessing': 'Evaluator', 'PushedModel': 'Pusher'}


@pytest.fixture(scope='module')
def uri(e2e_run) -> str:
  return str(e2e_run[0] / config_lib.METADATA_FILE)


@pytest.fixture(scope='module')
def store(uri):
  return metadata.open_uri(uri)


@pytest.fixture(scope='module')
def first_run(store) -> run_summary.RunSummary:
  """The e2e fixture's run (a later test may add a cached one)."""
  return run_summary.summarize_run(store, metadata.run_contexts(store, config_lib.PIPELINE_NAME)[-1])


def test_model_chain_goes_from_the_input_files_to_the_pushed_model(store, first_run, e2e_run, small_data_root):
  chain = queries.model_lineage(store)  # the latest pushed model
  by_type = {}
  for artifact in chain.chain:
    by_type.setdefault(artifact.type, []).append(artifact)
  assert chain.model.id == first_run.component('Trainer').outputs['model'][0].id
  assert [d.files for d in chain.inputs] == [[str(small_data_root / 'data.csv')]]
  assert 'num_files:1' in chain.inputs[0].fingerprint
  for type_name, node in CHAIN_MAKERS.items():
    assert [a.made_by.node_id for a in by_type[type_name]] == [node], type_name
  assert [a.made_by.node_id for a in by_type['Examples']] == ['CsvExampleGen']  # Transform writes no examples
  assert {a.made_by.run_id for a in chain.chain} == {first_run.run_id}
  assert {a.made_by.state for a in chain.chain} == {'COMPLETE'}
  assert by_type['ModelBlessing'][0].properties['blessed'] == '1'
  assert by_type['PushedModel'][0].properties['pushed_destination'] == str(pushed_model_dir(e2e_run[0]))
  assert all(os.path.exists(a.uri) for a in chain.chain)
  ranks = [queries.CHAIN_ORDER.index(a.type) for a in chain.chain]
  assert ranks == sorted(ranks)
  trained_with = chain.hyperparameters  # nothing tuned in this store: the declared defaults
  assert (trained_with.source, trained_with.tuned_by, trained_with.overrides) == ('defaults', None, {})
  assert trained_with.values == first_run.hparams['hparams'] and trained_with.values['learning_rate'] == \
      HParams().learning_rate
  assert text.format_model_lineage(chain).splitlines()[2] == run_summary.format_hparams(first_run.hparams, '')
  assert text.format_model_lineage(chain).splitlines()[2].startswith(
      'Hyperparameters (the defaults declared in models/): hidden_units=')


def test_a_pushed_model_id_names_the_same_chain_as_its_model(store, first_run):
  pushed = first_run.component('Pusher').outputs['pushed_model'][0]
  model = first_run.component('Trainer').outputs['model'][0]
  assert queries.model_lineage(store, pushed.id) == queries.model_lineage(store, model.id)
  with pytest.raises(ValueError, match='not a model'):
    queries.model_lineage(store, first_run.component('CsvExampleGen').outputs['examples'][0].id)


def test_consumers_of_the_examples_are_the_models_trained_on_them(store, first_run):
  examples = first_run.component('CsvExampleGen').outputs['examples'][0]
  found = queries.consumers(store, examples.id)
  assert [m.id for m in found.models] == [first_run.component('Trainer').outputs['model'][0].id]
  assert {e.node_id for e in found.used_by} == {'StatisticsGen', 'DataGate', 'Transform', 'Trainer', 'Evaluator'}
  derived_types = {a.type for a in found.derived}
  assert {'ExampleStatistics', 'ExampleAnomalies', 'TransformGraph', 'Model', 'ModelEvaluation',
          'PushedModel'} <= derived_types
  pushed = first_run.component('Pusher').outputs['pushed_model'][0]
  assert queries.consumers(store, pushed.id).derived == []


def test_runs_list_status_duration_cache_metrics_and_blessing(store, first_run, e2e_run):
  runs = queries.list_runs(store, config_lib.PIPELINE_NAME, limit=10)
  oldest = runs[-1]
  assert oldest.run_id == first_run.run_id
  assert (oldest.status, oldest.failed, oldest.cached) == ('COMPLETE', [], [])
  assert oldest.components == len(first_run.components) >= len(EXPECTED_NODES)
  started, ended = (min(c.started_ms for c in first_run.components), max(c.ended_ms for c in first_run.components))
  assert oldest.seconds == (ended - started) / 1000  # first start to last end, not the components' seconds summed
  # The default data runs its components one at a time (--side-by-side auto), so the span holds every one of them.
  assert sum(c.ended_ms - c.started_ms for c in first_run.components) <= ended - started
  assert oldest.metrics['auc'] == oldest.auc == first_run.metrics[()]['auc']
  assert oldest.auc_change is None  # no run before it
  assert oldest.blessed is True and oldest.pushed_path == str(pushed_model_dir(e2e_run[0]))
  shown = text.format_runs(runs)
  assert 'COMPLETE' in shown and first_run.run_id in shown
  header, *lines = shown.splitlines()
  assert header.split()[4:6] == ['auc', 'change']
  assert next(line for line in lines if line.startswith(first_run.run_id)).split()[4] == f'{oldest.auc:.4f}'


def run_line(run_id: str, auc, status: str = 'COMPLETE') -> queries.RunInfo:
  return queries.RunInfo(run_id, '2026-01-01 10:00:00', status, 30.0, 12, [], [] if auc else ['Trainer'],
                         {'auc': auc, 'binary_accuracy': 0.8} if auc else {}, bool(auc), None)


def test_runs_show_each_overall_auc_its_change_and_the_trend():
  runs = queries.with_auc_changes([run_line('r4', 0.9312), run_line('r3', None, 'FAILED'), run_line('r2', 0.9101),
                                   run_line('r1', 0.9150)])  # newest first
  assert [r.auc for r in runs] == [0.9312, None, 0.9101, 0.9150]
  assert [r.auc_change for r in runs] == pytest.approx([0.0211, None, -0.0049, None])  # r4 against r2
  assert queries.auc_trend(runs) == [('r1', 0.915), ('r2', 0.9101), ('r3', None), ('r4', 0.9312)]
  shown = text.format_runs(runs).splitlines()
  assert shown[0].split()[4:7] == ['auc', 'change', 'other']
  assert [line.split()[:6] for line in shown[1:5]] == [
      ['r4', 'COMPLETE', '30.0', '0/12', '0.9312', '+0.0211'], ['r3', 'FAILED', '(Trainer)', '30.0', '0/12', '-'],
      ['r2', 'COMPLETE', '30.0', '0/12', '0.9101', '-0.0049'], ['r1', 'COMPLETE', '30.0', '0/12', '0.9150',
                                                                 'binary_accuracy=0.8000']]
  assert shown[-1] == 'Overall AUC, oldest to newest: 0.9150 -> 0.9101 -> - -> 0.9312'
  assert json.loads(json.dumps(text.jsonable(runs)))[0]['auc_change'] == pytest.approx(0.0211)
  assert text.format_runs(runs[:1]).count('\n') == 1  # one run: no trend line


def test_diff_of_a_run_with_itself_finds_nothing(store, first_run):
  diff = run_diff.diff_runs(store, config_lib.PIPELINE_NAME, first_run.run_id, first_run.run_id)
  assert (diff.inputs, diff.parameters, diff.outputs, diff.schema, diff.metrics, diff.blessing) == (
      [], [], [], [], [], None)


def test_diff_names_changed_data_parameters_outputs_metrics_and_blessing(first_run):
  trainer = first_run.component('Trainer')
  example_gen = first_run.component('CsvExampleGen')
  changed_trainer = dataclasses.replace(
      trainer, parameters={**trainer.parameters, 'train_args': '{"num_steps": 7}'},
      outputs={**trainer.outputs, 'model': [metadata_store_pb2.Artifact(id=999, type='Model')]})
  changed_gen = dataclasses.replace(example_gen, parameters={**example_gen.parameters, 'input_base': '/other'})
  dropout = HParams().dropout + 0.125  # another value than the defaults', whatever they are.
  hparams = {**first_run.hparams, 'hparams': {**first_run.hparams['hparams'], 'dropout': dropout}}
  auc = first_run.metrics[()]['auc']
  slice_key = next(k for k in first_run.metrics if k)
  metrics = {**first_run.metrics, (): {**first_run.metrics[()], 'auc': auc - 0.25},
             slice_key: {**first_run.metrics[slice_key], 'example_count': 1.0}}
  other = dataclasses.replace(
      first_run, run_id='b', metrics=metrics, blessed=False, hparams=hparams,
      components=[changed_trainer if c is trainer else changed_gen if c is example_gen else c
                  for c in first_run.components])
  diff = run_diff.diff_summaries(first_run, other)
  assert [(c.what, c.b) for c in diff.inputs] == [('CsvExampleGen.input_base', '/other')]
  assert [(c.what, c.a, c.b) for c in diff.parameters] == [
      ('Trainer.train_args.num_steps', str(E2E_TRAIN_STEPS), '7'),
      ('Trainer.hyperparameters.dropout', str(HParams().dropout), str(dropout))]
  assert [(c.what, c.b) for c in diff.outputs] == [('Trainer.model', 'Model 999')]
  assert [(m.slice, m.metric) for m in diff.metrics] == [
      ('overall', 'auc'), (run_summary.slice_name(slice_key), 'example_count')]
  assert diff.metrics[0].delta == pytest.approx(-0.25)
  assert (diff.blessing.a, diff.blessing.b) == ('BLESSED', 'NOT BLESSED')
  shown = text.format_diff(diff)
  assert 'Trainer.train_args.num_steps' in shown and 'Blessing: BLESSED -> NOT BLESSED' in shown


def test_schema_diff_names_features_and_fields(store, first_run):
  schema = run_diff.load_schema(run_diff.schema_artifact(first_run))
  edited = type(schema)()
  edited.CopyFrom(schema)
  removed = edited.feature[0].name
  del edited.feature[0]
  edited.feature[0].presence.min_fraction = 0.125
  edited.string_domain[0].value.append('Space Taxi')
  changes = {c.what: c for c in run_diff.schema_changes(schema, edited)}
  assert changes[f'feature {removed}'].b is None
  assert f'feature {schema.feature[1].name} (presence)' in changes
  assert 'min_fraction: 0.125' in changes[f'feature {schema.feature[1].name} (presence)'].b
  assert 'Space Taxi' in changes[f'domain {schema.string_domain[0].name} (value)'].b
  assert run_diff.schema_changes(schema, schema) == []


def test_dag_of_a_run_follows_the_artifacts(first_run, tmp_path):
  dag = picture.run_dag(first_run)
  edges = {(s, t) for s, t, _ in dag.edges}
  assert {('CsvExampleGen', 'StatisticsGen'), ('StatisticsGen', 'ExampleValidator'), ('ExampleValidator', 'DataGate'),
          ('Transform', 'Trainer'), ('Trainer', 'Evaluator'), ('Evaluator', 'Pusher')} <= edges
  picture.write_dag(dag, str(tmp_path / 'run.svg'))
  picture.write_dag(dag, str(tmp_path / 'run.dot'))
  assert '<svg' in (tmp_path / 'run.svg').read_text()
  assert '"Trainer" -> "Evaluator" [label="Model"];' in (tmp_path / 'run.dot').read_text()


def test_cli_answers_every_command_in_json(uri, first_run, tmp_path, capsys):
  def ask(*args):
    assert cli.main(['--metadata-uri', uri, *args, '--json']) == 0
    return json.loads(capsys.readouterr().out)

  model = ask('model', '--latest-pushed')
  assert model['model']['id'] == first_run.component('Trainer').outputs['model'][0].id
  assert model['hyperparameters']['source'] == 'defaults' and model['hyperparameters']['tuned_by'] is None
  assert model['hyperparameters']['values'] == first_run.hparams['hparams']
  assert {a['type'] for a in model['chain']} >= set(CHAIN_MAKERS)
  examples_id = model['inputs'][0]['examples_id']
  assert [m['id'] for m in ask('consumers', str(examples_id))['models']] == [model['model']['id']]
  runs = ask('runs')
  assert runs[-1]['run_id'] == first_run.run_id and runs[-1]['blessed'] is True
  assert runs[-1]['metrics']['auc'] == first_run.metrics[()]['auc'] and runs[-1]['auc_change'] is None
  assert ask('diff', first_run.run_id, first_run.run_id)['metrics'] == []
  picture = ask('dag', first_run.run_id, '--output', str(tmp_path / 'run.png'))
  assert (tmp_path / 'run.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert ['Trainer', 'Evaluator', 'Model'] in picture['edges']


def test_cli_explains_what_it_cannot_find(uri, tmp_path, capsys):
  assert cli.main(['--metadata-uri', uri, 'consumers', '987654']) == 1
  assert 'no artifact with id 987654' in capsys.readouterr().err
  assert cli.main(['--metadata-uri', uri, 'diff', 'no-such-run', 'latest']) == 1
  assert 'no-such-run matches no run' in capsys.readouterr().err
  assert cli.main(['--metadata-uri', str(tmp_path / 'missing.db'), 'runs']) == 1
  assert 'no metadata store at' in capsys.readouterr().err
  assert not (tmp_path / 'missing.db').exists()


def test_python_dash_m_prints_the_model_chain(uri, first_run):
  process = subprocess.run([sys.executable, '-m', 'pipeline.lineage', 'model', '--metadata-uri', uri],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert process.returncode == 0, process.stderr
  model = first_run.component('Trainer').outputs['model'][0]
  assert process.stdout.startswith(f'Model {model.id}  {model.uri}')
  assert 'PushedModel' in process.stdout and 'Input files' in process.stdout
  assert 'Hyperparameters (the defaults declared in models/): hidden_units=' in process.stdout


def test_schemas_on_another_machine_are_compared_by_artifact():
  here = metadata_store_pb2.Artifact(id=1, type='Schema', uri='/nowhere/schema/1')
  there = metadata_store_pb2.Artifact(id=2, type='Schema', uri='/nowhere/schema/2')
  assert run_diff.run_schema_changes(here, here) == []
  assert run_diff.run_schema_changes(here, there) == [
      run_diff.Change('schema (files not readable from here)', 'Schema 1', 'Schema 2')]


def test_an_evaluation_of_a_model_against_itself_names_that_model():
  """MLMD keeps one input event per artifact: a model that is also the baseline is recorded as baseline_model."""
  store = metadata_store.MetadataStore(metadata_store_pb2.ConnectionConfig(fake_database={}))
  types = {name: store.put_artifact_type(metadata_store_pb2.ArtifactType(name=name))
           for name in ('Model', 'ModelEvaluation')}
  model, evaluation = store.put_artifacts([metadata_store_pb2.Artifact(type_id=types['Model'], uri='/m'),
                                           metadata_store_pb2.Artifact(type_id=types['ModelEvaluation'], uri='/e')])
  execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name='Evaluator'))
  [execution] = store.put_executions([metadata_store_pb2.Execution(type_id=execution_type)])
  step = metadata_store_pb2.Event.Path.Step
  store.put_events([
      metadata_store_pb2.Event(artifact_id=model, execution_id=execution, type=metadata_store_pb2.Event.INPUT,
                               path=metadata_store_pb2.Event.Path(steps=[step(key='baseline_model'), step(index=0)])),
      metadata_store_pb2.Event(artifact_id=evaluation, execution_id=execution, type=metadata_store_pb2.Event.OUTPUT,
                               path=metadata_store_pb2.Event.Path(steps=[step(key='evaluation'), step(index=0)]))])
  [evaluation_artifact] = store.get_artifacts_by_id([evaluation])
  assert queries.model_of(store, evaluation_artifact).id == model


TUNED_RECORD = {'hparams': {'hidden_units': [64, 32], 'max_embedding_dim': 8, 'dropout': 0.1, 'l2': 0.0,
                            'learning_rate': 0.003, 'batch_size': 256, 'seed': 42},
                'source': 'tuned', 'tuned_values': {'learning_rate': 0.003, 'width': 64, 'depth': 2},
                'overrides': {'batch_size': 256}}


def tuned_model_store(model_dir):
  """A fake store: a Tuner execution of run r1 made HyperParameters, which a Trainer took to make a Model whose
  directory holds the record; returns (store, model id, hyperparameters id, Tuner execution id)."""
  model_dir.mkdir(parents=True, exist_ok=True)
  (model_dir / HPARAMS_FILE).write_text(json.dumps(TUNED_RECORD))
  store = metadata_store.MetadataStore(metadata_store_pb2.ConnectionConfig(fake_database={}))
  types = {name: store.put_artifact_type(metadata_store_pb2.ArtifactType(name=name))
           for name in ('HyperParameters', 'Model')}
  tuned, model = store.put_artifacts([
      metadata_store_pb2.Artifact(type_id=types['HyperParameters'], uri='/tuned'),
      metadata_store_pb2.Artifact(type_id=types['Model'], uri=str(model_dir))])
  tuner, trainer = store.put_executions([
      metadata_store_pb2.Execution(type_id=store.put_execution_type(metadata_store_pb2.ExecutionType(name=name)),
                                   last_known_state=metadata_store_pb2.Execution.COMPLETE)
      for name in ('tfx.Tuner', 'tfx.Trainer')])
  node_type = store.put_context_type(metadata_store_pb2.ContextType(name='node'))
  run_type = store.put_context_type(metadata_store_pb2.ContextType(name='pipeline_run'))
  tuner_node, trainer_node, run = store.put_contexts([
      metadata_store_pb2.Context(type_id=node_type, name='p.Tuner'),
      metadata_store_pb2.Context(type_id=node_type, name='p.Trainer'),
      metadata_store_pb2.Context(type_id=run_type, name='r1')])
  store.put_attributions_and_associations([], [
      metadata_store_pb2.Association(context_id=c, execution_id=e)
      for c, e in ((tuner_node, tuner), (trainer_node, trainer), (run, tuner), (run, trainer))])
  step = metadata_store_pb2.Event.Path.Step
  event = lambda artifact, execution, kind, key: metadata_store_pb2.Event(  # noqa: E731
      artifact_id=artifact, execution_id=execution, type=kind,
      path=metadata_store_pb2.Event.Path(steps=[step(key=key), step(index=0)]))
  store.put_events([event(tuned, tuner, metadata_store_pb2.Event.OUTPUT, 'best_hyperparameters'),
                    event(tuned, trainer, metadata_store_pb2.Event.INPUT, 'hyperparameters'),
                    event(model, trainer, metadata_store_pb2.Event.OUTPUT, 'model')])
  return store, model, tuned, tuner


def test_the_model_view_shows_its_hyperparameters_and_the_tuning_behind_them(tmp_path):
  store, model, tuned, tuner = tuned_model_store(tmp_path / 'model')
  lineage = queries.model_lineage(store, model)
  found = lineage.hyperparameters
  assert (found.values, found.source, found.tuned_values, found.overrides) == (
      TUNED_RECORD['hparams'], 'tuned', TUNED_RECORD['tuned_values'], TUNED_RECORD['overrides'])
  assert (found.tuned_by.id, found.tuned_by.type, found.tuned_by.made_by.node_id, found.tuned_by.made_by.id,
          found.tuned_by.made_by.run_id) == (tuned, 'HyperParameters', 'Tuner', tuner, 'r1')
  assert [a.type for a in lineage.chain] == ['HyperParameters', 'Model']
  shown = text.format_model_lineage(lineage).splitlines()
  assert shown[2] == (f'Hyperparameters (tuned by Tuner execution {tuner} of run r1 (artifact {tuned}); '
                      'overridden: batch_size): hidden_units=[64, 32]  max_embedding_dim=8  dropout=0.1  l2=0.0  '
                      'learning_rate=0.003  batch_size=256  seed=42')
  as_json = json.loads(json.dumps(text.jsonable(lineage)))['hyperparameters']
  assert as_json['values'] == TUNED_RECORD['hparams'] and as_json['tuned_by']['made_by']['id'] == tuner


def test_a_model_without_a_record_says_so_and_names_the_tuning_it_took(tmp_path):
  store, model, tuned, tuner = tuned_model_store(tmp_path / 'model')
  (tmp_path / 'model' / HPARAMS_FILE).unlink()
  found = queries.model_hyperparameters(store, metadata.get_artifact(store, model))
  assert (found.values, found.source, found.tuned_by.id) == ({}, '', tuned) and found.origin.startswith('Tuner')
  assert text.format_model_hyperparameters(found) == (
      f'Hyperparameters: no record beside the model (the Trainer took Tuner execution {tuner} of run r1 '
      f'(artifact {tuned}))')


def test_diff_lists_changed_hyperparameters_like_parameters():
  defaults = {'hparams': {**TUNED_RECORD['hparams'], 'hidden_units': [128, 64, 32], 'learning_rate': 0.001},
              'source': 'defaults', 'tuned_values': {}, 'overrides': {}}
  a = run_summary.RunSummary(run_id='a', hparams=defaults)
  b = run_summary.RunSummary(run_id='b', hparams=TUNED_RECORD)
  diff = run_diff.diff_summaries(a, b)
  assert [(c.what, c.a, c.b) for c in diff.parameters] == [
      ('Trainer.hyperparameters (source)', 'defaults', 'tuned'),
      ('Trainer.hyperparameters.hidden_units', '[128, 64, 32]', '[64, 32]'),
      ('Trainer.hyperparameters.learning_rate', '0.001', '0.003')]
  assert '  Trainer.hyperparameters.learning_rate: 0.001 -> 0.003' in text.format_diff(diff).splitlines()
  assert run_diff.diff_summaries(b, b).parameters == []
  unrecorded = run_diff.diff_summaries(run_summary.RunSummary(run_id='old'), b).parameters
  assert ('Trainer.hyperparameters.seed', None, '42') in [(c.what, c.a, c.b) for c in unrecorded]
