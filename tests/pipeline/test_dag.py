"""The DAG's shape and the inputs of its cache keys."""
import dataclasses
import json

from tfx.proto import example_gen_pb2
from tfx.utils import proto_utils

from pipeline import config as config_lib
from pipeline.dag import create_pipeline


def local_test_config(tmp_path, **overrides):
  config = config_lib.local_config(data_root=str(tmp_path), output_root=str(tmp_path / 'out'), train_steps=10,
                                   enable_cache=True, beam_workers=1)
  return dataclasses.replace(config, **overrides)


def nodes_by_id(pipeline):
  return {node.id: node for node in pipeline.components}


def test_the_trainer_waits_for_the_data_gate_and_pusher_for_the_blessing(tmp_path):
  nodes = nodes_by_id(create_pipeline(local_test_config(tmp_path)))
  assert {nodes['DataGate'], nodes['DriftGate']} <= set(nodes['Trainer'].upstream_nodes)
  assert nodes['StatisticsGen'] not in nodes['Transform'].upstream_nodes  # Transform runs beside it.
  assert nodes['ExampleValidator'] in nodes['DataGate'].upstream_nodes
  assert nodes['Evaluator'] in nodes['Pusher'].upstream_nodes
  assert 'baseline_model' in nodes['Evaluator'].inputs


def test_without_baseline_comparison_there_is_no_resolver(tmp_path):
  nodes = nodes_by_id(create_pipeline(local_test_config(tmp_path, compare_to_baseline=False)))
  assert not {'latest_blessed_model_resolver', 'baseline_model_resolver'} & set(nodes)
  assert 'baseline_model' not in nodes['Evaluator'].inputs


def test_local_baseline_is_resolved_after_the_trainer_and_warm_start_from_the_latest_blessed_model(tmp_path):
  nodes = nodes_by_id(create_pipeline(local_test_config(tmp_path)))
  assert 'latest_blessed_model_resolver' not in nodes
  assert nodes['Trainer'] in nodes['baseline_model_resolver'].upstream_nodes
  assert nodes['baseline_model_resolver'] in nodes['Evaluator'].upstream_nodes
  warm = nodes_by_id(create_pipeline(local_test_config(tmp_path, warm_start=True)))
  assert warm['latest_blessed_model_resolver'] in warm['Trainer'].upstream_nodes
  assert warm['baseline_model_resolver'] in warm['Evaluator'].upstream_nodes


def test_without_lineage_queries_the_latest_blessed_model_is_the_baseline(tmp_path):
  nodes = nodes_by_id(create_pipeline(local_test_config(tmp_path, baseline_excludes_candidate=False)))
  assert 'baseline_model_resolver' not in nodes
  assert nodes['latest_blessed_model_resolver'] in nodes['Evaluator'].upstream_nodes


def test_tune_puts_the_tuner_after_the_gates_and_its_best_hyperparameters_into_the_trainer(tmp_path):
  nodes = nodes_by_id(create_pipeline(local_test_config(tmp_path, tune=True, tuner_trials=3, tuner_seconds=60,
                                                        tuner_parallel=2)))
  tuner = nodes['Tuner']
  assert 'latest_hyperparameters_resolver' not in nodes
  assert {nodes['DataGate'], nodes['DriftGate'], nodes['Transform']} <= set(tuner.upstream_nodes)
  assert nodes['Trainer'].inputs['hyperparameters'] is tuner.outputs['best_hyperparameters']
  code = json.loads(nodes['Trainer'].exec_properties['custom_config'])['code_sha256']
  assert json.loads(tuner.exec_properties['custom_config']) == {
      'code_sha256': code, 'tuner_trials': 3, 'tuner_seconds': 60,
      'tuner_parallel': 2}  # the model code is in the Tuner's cache key.


def test_without_tune_the_trainer_takes_the_newest_tuning_where_metadata_is_read(tmp_path):
  nodes = nodes_by_id(create_pipeline(local_test_config(tmp_path)))
  resolver = nodes['latest_hyperparameters_resolver']
  assert 'Tuner' not in nodes
  assert nodes['Trainer'].inputs['hyperparameters'] is resolver.outputs['hyperparameters']
  compiled = nodes_by_id(create_pipeline(local_test_config(tmp_path, resolve_hyperparameters=False)))
  assert 'latest_hyperparameters_resolver' not in compiled
  assert 'hyperparameters' not in compiled['Trainer'].inputs


def test_code_and_schema_digests_change_with_content(tmp_path):
  root = config_lib.REPO_ROOT  # the curated schema, and the code that derives the Evaluator's schema from it:
  derived_from = [root / 'schema' / 'schema.pbtxt', root / 'pipeline' / 'ingest' / 'schema_import.py',
                  root / 'preprocessing' / 'features.py']  # (its slice columns).
  nodes = nodes_by_id(create_pipeline(local_test_config(tmp_path)))
  assert nodes['CuratedSchemaGen'].exec_properties['schema_sha256'] == config_lib.source_digest(derived_from)
  assert 'code_sha256' in nodes['Transform'].exec_properties['custom_config']
  assert 'code_sha256' in nodes['Trainer'].exec_properties['custom_config']
  scratch = config_lib.REPO_ROOT / 'preprocessing'
  before = config_lib.source_digest([scratch])
  probe = scratch / '_digest_probe.py'
  try:
    probe.write_text('VALUE = 1\n')
    assert config_lib.source_digest([scratch]) != before
  finally:
    probe.unlink()
  assert config_lib.source_digest([scratch]) == before


def test_beam_workers_choose_the_direct_runner_mode():
  assert config_lib.direct_runner_args(1) == ()
  args = config_lib.direct_runner_args(2)
  assert '--direct_running_mode=multi_processing' in args and '--direct_num_workers=2' in args
  assert any(a.startswith('--setup_file=') for a in args)


def test_the_eval_split_is_a_fifth_of_the_rows_up_to_about_max_eval_rows(tmp_path):
  for rows, eval_rows in ((100, 20), (12_000, 2_400), (150_000, 10_000), (1_500_000, 10_000), (1_500_001, 9_934)):
    train_buckets, eval_buckets = config_lib.split_buckets(rows)
    assert eval_buckets == 1
    assert round(rows * eval_buckets / (train_buckets + eval_buckets)) == eval_rows
  example_gen = nodes_by_id(create_pipeline(local_test_config(tmp_path, split_buckets=(14, 1))))['CsvExampleGen']
  output_config = proto_utils.json_to_proto(example_gen.exec_properties['output_config'], example_gen_pb2.Output())
  assert [(s.name, s.hash_buckets) for s in output_config.split_config.splits] == [('train', 14), ('eval', 1)]


def test_a_store_other_roots_share_scopes_the_baseline_and_drift_reference_to_this_root(tmp_path):
  def resolver_configs(metadata_uri, pipeline_name=config_lib.PIPELINE_NAME):
    config = config_lib.local_config(data_root=str(tmp_path), output_root=str(tmp_path / 'out'), train_steps=10,
                                     enable_cache=True, beam_workers=1, metadata_uri=metadata_uri,
                                     pipeline_name=pipeline_name)
    nodes = nodes_by_id(create_pipeline(config))
    return (nodes['baseline_model_resolver'].inputs['model'].output_node.kwargs,
            nodes['served_data_statistics_resolver'].inputs['statistics'].output_node.kwargs)
  root = str(tmp_path / 'out' / 'pipeline')
  assert resolver_configs(None) == ({'models_under': ''}, {'pipeline_name': config_lib.PIPELINE_NAME,
                                                           'pushed_under': ''})
  assert resolver_configs(str(tmp_path / 'out' / config_lib.METADATA_FILE))[0] == {'models_under': ''}
  shared = resolver_configs('mysql://ml@127.0.0.1:3306/metadata', 'alice')
  assert shared == ({'models_under': root}, {'pipeline_name': 'alice', 'pushed_under': root})
  assert resolver_configs(str(tmp_path / 'team.db'))[1]['pushed_under'] == root


INFERENCE_NODES = {'InferenceExampleGen', 'InferenceStatisticsGen', 'InferenceDataGate', 'inference_model_resolver',
                   'BulkInferrer', 'PredictionsWriter'}


def test_without_inference_data_the_dag_has_no_inference_node(tmp_path):
  assert not INFERENCE_NODES & set(nodes_by_id(create_pipeline(local_test_config(tmp_path))))


def test_inference_data_is_gated_before_training_and_scored_after_the_push(tmp_path):
  config = local_test_config(tmp_path, inference_data_root=str(tmp_path / 'to_score'))
  plain = set(nodes_by_id(create_pipeline(local_test_config(tmp_path))))
  nodes = nodes_by_id(create_pipeline(config))
  assert set(nodes) == plain | INFERENCE_NODES
  assert nodes['InferenceDataGate'] in nodes['Trainer'].upstream_nodes
  assert nodes['Pusher'] in nodes['inference_model_resolver'].upstream_nodes
  assert nodes['BulkInferrer'].inputs['model'] is not nodes['Trainer'].outputs['model']
  assert 'model_blessing' not in nodes['BulkInferrer'].inputs
  assert nodes['PredictionsWriter'].exec_properties['predictions_root'] == str(tmp_path / 'out' / 'predictions')
  input_config = proto_utils.json_to_proto(nodes['InferenceExampleGen'].exec_properties['input_config'],
                                           example_gen_pb2.Input())
  assert [(s.name, s.pattern) for s in input_config.splits] == [('inference', '*.csv')]


def test_without_lineage_queries_only_this_runs_blessed_model_scores(tmp_path):
  config = local_test_config(tmp_path, inference_data_root='gs://b/to_score', fallback_to_pushed_model=False)
  nodes = nodes_by_id(create_pipeline(config))
  assert 'inference_model_resolver' not in nodes
  assert nodes['BulkInferrer'].inputs['model'] is nodes['Trainer'].outputs['model']
  assert nodes['BulkInferrer'].inputs['model_blessing'] is nodes['Evaluator'].outputs['blessing']
  assert nodes['Pusher'] in nodes['BulkInferrer'].upstream_nodes
