"""The TFX DAG, built from a PipelineConfig alone."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

from google.protobuf import wrappers_pb2
from tfx.components import BulkInferrer, Evaluator, ExampleValidator, Pusher, StatisticsGen, Trainer, Transform
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.base.base_node import BaseNode
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2, tuner_pb2
from tfx.types.channel import Channel
from tfx.types.standard_artifacts import ExampleStatistics, Examples, HyperParameters, Model, ModelBlessing

from models.contract import TUNER_PARALLEL_KEY, TUNER_SECONDS_KEY, TUNER_TRIALS_KEY
from pipeline import compat
from pipeline import config as config_lib
from pipeline.evaluation.baseline import BaselineModel
from pipeline.evaluation.config import eval_config
from pipeline.gates.data import DataGate
from pipeline.gates.drift import DriftGate, ServedDataStatistics
from pipeline.gates.window import EXAMPLE_GEN, SpanWindow
from pipeline.inference import data_gate as inference_gate
from pipeline.inference import model_choice, predictions
from pipeline.ingest import csv_reading
from pipeline.ingest import example_gen as native_csv
from pipeline.ingest import schema_import
from pipeline.ingest.schema_import import EVALUATION_SCHEMA_KEY, CuratedSchemaGen
from pipeline.ingest.spans import CSV_PATTERN
from pipeline.serving.pusher import MODEL_NAME_KEY, AtomicPusherExecutor
from pipeline.tuning import LatestTunedHyperParameters
from preprocessing import features

PREPROCESSING_FN = 'preprocessing.transform.preprocessing_fn'
RUN_FN = 'models.trainer.run_fn'
TUNER_FN = 'models.tuner.tuner_fn'
INFERENCE_SPLIT = 'inference'  # the inference examples' one split.
# Transform builds the preprocessing_fn as a TF1 graph: on the default data here that takes about 30 % less time
# than the TF2 path, which traces the function again for each analysis step. Serving is the same.
TRANSFORM_TF_COMPAT_V1 = True


def vertex_job_config(hardware: config_lib.TrainerHardware, args_key: str,
                      pools: List[Dict[str, object]]) -> Dict[str, Any]:
  """The custom_config entries that make a TFX Vertex extension component submit a CustomJob on these pools."""
  from tfx.v1.extensions import google_cloud_ai_platform as vertex  # pylint: disable=g-import-not-at-top
  return {
      vertex.ENABLE_VERTEX_KEY: True,
      vertex.VERTEX_REGION_KEY: hardware.region,
      args_key: {'project': hardware.project, 'job_spec': {'worker_pool_specs': pools}},
  }


def vertex_training_config(hardware: config_lib.TrainerHardware) -> Dict[str, Any]:
  """The Trainer custom_config entries that make it submit a Vertex AI CustomJob on the requested machines."""
  from tfx.v1.extensions import google_cloud_ai_platform as vertex  # pylint: disable=g-import-not-at-top
  return vertex_job_config(hardware, vertex.TRAINING_ARGS_KEY, hardware.worker_pool_specs())


def vertex_tuning_config(hardware: config_lib.TrainerHardware, parallel: int) -> Dict[str, Any]:
  """The Vertex Tuner's custom_config entries: a CustomJob of a chief and parallel - 1 workers, each running trials,
  on the Trainer's machine spec and image (TFX's executor reads the job under TUNING_ARGS_KEY)."""
  from tfx.extensions.google_cloud_ai_platform.tuner import executor  # pylint: disable=g-import-not-at-top
  return vertex_job_config(hardware, executor.TUNING_ARGS_KEY, hardware.worker_pool_specs(replicas=parallel))


def create_trainer(hardware: config_lib.TrainerHardware, custom_config: Dict[str, Any],
                   **kwargs: Any) -> BaseNode:
  """The Trainer in the pipeline's own container, or as a Vertex AI custom job when the hardware asks for one."""
  if not hardware.custom_job:
    return Trainer(custom_config=custom_config, **kwargs)
  from tfx.v1.extensions import google_cloud_ai_platform as vertex  # pylint: disable=g-import-not-at-top
  return vertex.Trainer(
      custom_config={**custom_config, **vertex_training_config(hardware)}, **kwargs)


def drift_check(config: config_lib.PipelineConfig, statistics_gen: BaseNode,
                schema_gen: BaseNode) -> List[BaseNode]:
  """The resolver of the served model's data statistics, then the drift gate comparing the new data with them.

  Local runs only: the resolver reads lineage from ML Metadata, which Vertex and KFP compilers cannot express.
  """
  served = Resolver(
      strategy_class=ServedDataStatistics,
      config={'pipeline_name': config.pipeline_name, 'pushed_under': config.references_under},
      statistics=Channel(type=ExampleStatistics),
      current=statistics_gen.outputs['statistics'],
  ).with_id('served_data_statistics_resolver')
  gate = DriftGate(statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'],
                   served_statistics=served.outputs['statistics'], accept_drift=config.accept_drift)
  return [served, gate]


def split_config(buckets: Tuple[int, int]) -> example_gen_pb2.Output:
  """ExampleGen's output: train and eval splits of the given hash buckets."""
  return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
      example_gen_pb2.SplitConfig.Split(name='train', hash_buckets=buckets[0]),
      example_gen_pb2.SplitConfig.Split(name='eval', hash_buckets=buckets[1])]))


def example_gen_code() -> example_gen_pb2.CustomConfig:
  """The digest of the native CSV reading code and of the declared column types, as an ExampleGen parameter, so
  that the cache notices edits to them."""
  code = wrappers_pb2.StringValue(value=config_lib.source_digest(
      [Path(module.__file__) for module in (native_csv, csv_reading, features)]))
  custom_config = example_gen_pb2.CustomConfig()
  custom_config.custom_config.Pack(code)
  return custom_config


def create_example_gen(config: config_lib.PipelineConfig) -> BaseNode:
  """CsvExampleGen over the data root (its latest span, or the span to backfill) with a deterministic split.

  Its executor reads CSV natively (pipeline/ingest/example_gen.py).
  """
  custom_config = example_gen_code()
  range_config = None
  if config.backfill_span is not None:
    range_config = range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
        start_span_number=config.backfill_span, end_span_number=config.backfill_span))
  return native_csv.ArrowCsvExampleGen(
      input_base=config.data_root,
      input_config=example_gen_pb2.Input(
          splits=[example_gen_pb2.Input.Split(name='single_split', pattern=config.input_pattern)]),
      output_config=split_config(config.split_buckets),
      custom_config=custom_config, range_config=range_config).with_id(EXAMPLE_GEN)


def span_window(config: config_lib.PipelineConfig, example_gen: BaseNode, gates: List[BaseNode]) -> BaseNode:
  """The resolver of the newest config.window spans that passed the gates, run after this run's gates."""
  window = Resolver(
      strategy_class=SpanWindow, config={'window': config.window},
      examples=Channel(type=Examples, producer_component_id=example_gen.id, output_key='examples'),
  ).with_id('span_window_resolver')
  for gate in gates:
    window.add_upstream_node(gate)
  return window


def latest_blessed_model_resolver() -> BaseNode:
  """The resolver of the newest blessed model: the Trainer's start with --warm-start, and the baseline on Vertex."""
  return Resolver(
      strategy_class=LatestBlessedModelStrategy,
      model=Channel(type=Model),
      model_blessing=Channel(type=ModelBlessing),
  ).with_id('latest_blessed_model_resolver')


def baseline_model_resolver(trainer: BaseNode, models_under: str) -> BaseNode:
  """The resolver of the Evaluator's baseline: the newest blessed model other than this run's Trainer output."""
  return Resolver(
      strategy_class=BaselineModel,
      config={'models_under': models_under},
      model=Channel(type=Model),
      model_blessing=Channel(type=ModelBlessing),
      candidate=trainer.outputs['model'],
  ).with_id('baseline_model_resolver')


def create_tuner(config: config_lib.PipelineConfig, examples: Channel, transform: BaseNode, schema_gen: BaseNode,
                 model_code: str) -> BaseNode:
  """The Tuner: config.tuner_trials trials of train_steps on the train split, within config.tuner_seconds; where
  it runs, config.tuner_parallel trials at once (a process each), or with tuner_on_vertex as TFX's Vertex AI Tuner
  running config.tuner_parallel trials at once, a replica of a custom job each."""
  custom_config = {'code_sha256': model_code, TUNER_TRIALS_KEY: config.tuner_trials,
                   TUNER_SECONDS_KEY: config.tuner_seconds,
                   TUNER_PARALLEL_KEY: 1 if config.tuner_on_vertex else config.tuner_parallel}
  kwargs = dict(
      tuner_fn=TUNER_FN, examples=examples, transform_graph=transform.outputs['transform_graph'],
      schema=schema_gen.outputs['schema'], train_args=trainer_pb2.TrainArgs(num_steps=config.train_steps),
      eval_args=trainer_pb2.EvalArgs(num_steps=config.eval_steps))
  if not config.tuner_on_vertex:
    from tfx.components import Tuner  # pylint: disable=g-import-not-at-top  (it loads Keras 3 through keras_tuner)
    return Tuner(custom_config=custom_config, **kwargs)
  from tfx.v1.extensions import google_cloud_ai_platform as vertex  # pylint: disable=g-import-not-at-top
  return vertex.Tuner(
      custom_config={**custom_config, **vertex_tuning_config(config.trainer_hardware, config.tuner_parallel)},
      tune_args=tuner_pb2.TuneArgs(num_parallel_trials=config.tuner_parallel), **kwargs)


def latest_hyperparameters_resolver(config: config_lib.PipelineConfig) -> BaseNode:
  """The resolver of the newest tuned hyperparameters of this pipeline (of this output root's on a shared store)."""
  return Resolver(
      strategy_class=LatestTunedHyperParameters,
      config={'hyperparameters_under': config.references_under},
      hyperparameters=Channel(type=HyperParameters),
  ).with_id('latest_hyperparameters_resolver')


def hyperparameters_source(config: config_lib.PipelineConfig, examples: Channel, transform: BaseNode,
                           schema_gen: BaseNode, model_code: str, gates: List[BaseNode]
                           ) -> Tuple[List[BaseNode], Dict[str, Channel]]:
  """The nodes behind the Trainer's hyperparameters and its input from them: the Tuner (after the gates) with
  tune, else the resolver of the newest tuning where ML Metadata can be read, else none (the declared defaults)."""
  if config.tune:
    tuner = create_tuner(config, examples, transform, schema_gen, model_code)
    for gate in gates:  # nothing tunes on what a gate stops.
      tuner.add_upstream_node(gate)
    return [tuner], {'hyperparameters': tuner.outputs['best_hyperparameters']}
  if config.resolve_hyperparameters:
    resolver = latest_hyperparameters_resolver(config)
    return [resolver], {'hyperparameters': resolver.outputs['hyperparameters']}
  return [], {}


def vertex_serving_config(endpoint: config_lib.ServingEndpoint) -> Dict[str, Any]:
  """The Vertex Pusher's custom_config: upload to the Model Registry of endpoint.project/region with the serving
  image, then deploy to the endpoint on its machines (TFX's executor reads these keys)."""
  from tfx.v1.extensions import google_cloud_ai_platform as vertex  # pylint: disable=g-import-not-at-top
  return {
      vertex.ENABLE_VERTEX_KEY: True,
      vertex.VERTEX_REGION_KEY: endpoint.region,
      vertex.VERTEX_CONTAINER_IMAGE_URI_KEY: endpoint.image,
      vertex.SERVING_ARGS_KEY: endpoint.serving_args(),
  }


def create_pusher(config: config_lib.PipelineConfig, trainer: BaseNode, evaluator: BaseNode) -> BaseNode:
  """The Pusher of a blessed model: to serving_model_dir, atomically; or, with a serving endpoint, TFX's Vertex AI
  Pusher, to the Vertex AI Model Registry and that endpoint."""
  inputs = {'model': trainer.outputs['model'], 'model_blessing': evaluator.outputs['blessing']}
  if not config.serving_endpoint.name:
    return Pusher(
        custom_executor_spec=executor_spec.ExecutorClassSpec(AtomicPusherExecutor),
        push_destination=pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(
            base_directory=config.serving_model_dir)),
        custom_config={MODEL_NAME_KEY: config.pipeline_name}, **inputs)
  from tfx.v1.extensions import google_cloud_ai_platform as vertex  # pylint: disable=g-import-not-at-top
  return vertex.Pusher(custom_config=vertex_serving_config(config.serving_endpoint), **inputs)


def inference_data_check(config: config_lib.PipelineConfig, schema_gen: BaseNode) -> List[BaseNode]:
  """The inference data's ExampleGen (one split, input order), its statistics and its gate (SERVING environment)."""
  example_gen = native_csv.InputOrderCsvExampleGen(
      input_base=config.inference_data_root,
      input_config=example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name=INFERENCE_SPLIT,
                                                                              pattern=CSV_PATTERN)]),
      output_config=example_gen_pb2.Output(), custom_config=example_gen_code()).with_id('InferenceExampleGen')
  statistics_gen = StatisticsGen(examples=example_gen.outputs['examples']).with_id('InferenceStatisticsGen')
  gate = inference_gate.InferenceDataGate(statistics=statistics_gen.outputs['statistics'],
                                          schema=schema_gen.outputs['schema'],
                                          examples=example_gen.outputs['examples'])
  return [example_gen, statistics_gen, gate]


def batch_inference(config: config_lib.PipelineConfig, example_gen: BaseNode, trainer: BaseNode,
                    evaluator: BaseNode, pusher: BaseNode) -> List[BaseNode]:
  """BulkInferrer and the predictions file, after the Pusher.

  With fallback_to_pushed_model, a resolver gives BulkInferrer this run's model when blessed, else the currently
  pushed model; without (compiled targets: their resolvers cannot read lineage), BulkInferrer scores with this
  run's model only when the Evaluator blessed it, and writes nothing otherwise.
  """
  nodes: List[BaseNode] = []
  examples = example_gen.outputs['examples']
  if config.fallback_to_pushed_model:
    chooser = Resolver(
        strategy_class=model_choice.InferenceModel,
        config={'pipeline_name': config.pipeline_name, 'pushed_under': config.references_under},
        model=Channel(type=Model), candidate=trainer.outputs['model'], blessing=evaluator.outputs['blessing'],
    ).with_id('inference_model_resolver')
    chooser.add_upstream_node(pusher)
    nodes.append(chooser)
    model = chooser.outputs['model']
    inferrer = BulkInferrer(examples=examples, model=model)
  else:
    model = trainer.outputs['model']
    inferrer = BulkInferrer(examples=examples, model=model, model_blessing=evaluator.outputs['blessing'])
    inferrer.add_upstream_node(pusher)
  writer = predictions.PredictionsWriter(
      examples=examples, model=model, inference_result=inferrer.outputs['inference_result'],
      predictions_root=config.predictions_root,
      code_sha256=config_lib.source_digest([config_lib.REPO_ROOT / 'pipeline' / 'inference']))
  return nodes + [inferrer, writer]


def create_components(config: config_lib.PipelineConfig) -> List[BaseNode]:
  """ExampleGen to Pusher, with the gates before the Trainer and the baseline resolver when configured.

  A backfill configuration stops after the data gate: it only ingests and checks one older span of a window.
  """
  example_gen = create_example_gen(config)
  statistics_gen = StatisticsGen(examples=example_gen.outputs['examples'])
  schema_gen = CuratedSchemaGen(
      schema_file=config.schema_file,
      schema_sha256=config_lib.source_digest(
          [config_lib.SCHEMA_FILE, Path(schema_import.__file__), Path(features.__file__)]))
  example_validator = ExampleValidator(
      statistics=statistics_gen.outputs['statistics'], schema=schema_gen.outputs['schema'])
  preprocessing_code = config_lib.source_digest([config_lib.REPO_ROOT / 'preprocessing'])
  data_gate = DataGate(anomalies=example_validator.outputs['anomalies'], examples=example_gen.outputs['examples'],
                       label_code_sha256=preprocessing_code)
  nodes: List[BaseNode] = [example_gen, statistics_gen, schema_gen, example_validator, data_gate]
  if config.backfill_span is not None:
    return nodes
  gates = [data_gate]
  inference_check = inference_data_check(config, schema_gen) if config.inference_data_root else []
  nodes += inference_check
  gates += inference_check[-1:]  # nothing trains, pushes or scores when the rows to score are bad.
  if config.check_drift:
    drift_nodes = drift_check(config, statistics_gen, schema_gen)
    drift_nodes[-1].add_upstream_node(data_gate)  # schema problems are reported first.
    nodes += drift_nodes
    gates.append(drift_nodes[-1])
  training_examples = example_gen.outputs['examples']
  if config.window > 1:
    nodes.append(span_window(config, example_gen, gates))
    training_examples = nodes[-1].outputs['examples']
  # Transform only analyzes the data and writes the transform graph: the Trainer applies that graph to the raw
  # examples it reads, as serving does. Writing every transformed example took most of Transform's time and the
  # Trainer reads only train_steps batches of them.
  transform = Transform(
      examples=training_examples, schema=schema_gen.outputs['schema'],
      preprocessing_fn=PREPROCESSING_FN, materialize=False, disable_statistics=True, disable_analyzer_cache=True,
      force_tf_compat_v1=TRANSFORM_TF_COMPAT_V1, custom_config={'code_sha256': preprocessing_code})
  latest_blessed = latest_blessed_model_resolver()
  if config.warm_start or (config.compare_to_baseline and not config.baseline_excludes_candidate):
    nodes.append(latest_blessed)
  trainer_inputs = {'base_model': latest_blessed.outputs['model']} if config.warm_start else {}
  model_code = config_lib.source_digest(
      [config_lib.REPO_ROOT / 'preprocessing', config_lib.REPO_ROOT / 'models', Path(compat.__file__)])
  tuning, hyperparameters = hyperparameters_source(config, training_examples, transform, schema_gen, model_code,
                                                   gates)
  nodes += tuning
  trainer_inputs.update(hyperparameters)
  trainer = create_trainer(
      config.trainer_hardware,
      run_fn=RUN_FN,
      examples=training_examples,
      transform_graph=transform.outputs['transform_graph'],
      schema=schema_gen.outputs['schema'],
      train_args=trainer_pb2.TrainArgs(num_steps=config.train_steps),
      eval_args=trainer_pb2.EvalArgs(num_steps=config.eval_steps),
      custom_config={'code_sha256': model_code, **config.hparams},
      **trainer_inputs)
  for gate in gates:  # Transform only analyzes the data, beside StatisticsGen; nothing trains on what a gate stops.
    trainer.add_upstream_node(gate)
  evaluator_inputs = {}
  if config.compare_to_baseline:
    baseline = latest_blessed
    if config.baseline_excludes_candidate:
      baseline = baseline_model_resolver(trainer, config.references_under)
      nodes.append(baseline)
    evaluator_inputs['baseline_model'] = baseline.outputs['model']
  evaluator = Evaluator(
      examples=example_gen.outputs['examples'], model=trainer.outputs['model'],
      schema=schema_gen.outputs[EVALUATION_SCHEMA_KEY],
      eval_config=eval_config(config.auc_floor, config.compare_to_baseline), **evaluator_inputs)
  pusher = create_pusher(config, trainer, evaluator)
  nodes += [transform, trainer, evaluator, pusher]
  if inference_check:
    nodes += batch_inference(config, inference_check[0], trainer, evaluator, pusher)
  return nodes


def create_pipeline(config: config_lib.PipelineConfig) -> Pipeline:
  """The whole pipeline for a configuration; runners decide where it runs."""
  return Pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=config.pipeline_root,
      components=create_components(config),
      enable_cache=config.enable_cache,
      metadata_connection_config=config.metadata_connection_config,
      beam_pipeline_args=list(config.beam_pipeline_args))
