"""Compiles the pipeline for Kubeflow Pipelines v2 or Vertex AI Pipelines, and deploys it to a Kubeflow cluster.

  python kubeflow_runner.py compile --target vertex --output pipeline.json   # a Vertex AI PipelineJob
  python kubeflow_runner.py compile --target kfp --output pipeline.yaml      # a bare KFP v2 PipelineSpec
  python kubeflow_runner.py deploy --endpoint URL [--run] [--schedule CRON] [--experiment NAME]
  python kubeflow_runner.py run-local --spec FILE                            # run a compiled file on this machine

Without a subcommand it compiles for Vertex: that is how `tfx pipeline create|update|compile --engine vertex`
runs this file. The tfx CLI passes no flags, so every flag defaults to an environment variable:

  --pipeline-root      PIPELINE_ROOT              gs://bucket/path for artifacts and the pushed model (required);
                                                  a local directory compiles for run-local
  --data-root          DATA_ROOT                  directory of CSV files (default: PIPELINE_ROOT/data)
  --inference-data     INFERENCE_DATA             CSV files (serving columns) that BulkInferrer scores when the run's
                                                  model is blessed, into PIPELINE_ROOT/predictions/<run id>/
  --image              PIPELINE_IMAGE             image built from ./Dockerfile (default: gcr.io/PROJECT/NAME)
  --project            GOOGLE_CLOUD_PROJECT       GCP project of Dataflow and Vertex AI training jobs
  --region             GOOGLE_CLOUD_REGION        their region
  --output             PIPELINE_OUTPUT            compiled file (default: pipeline.json, pipeline.yaml for kfp)
  --train-steps        TRAIN_STEPS                training steps (default: 400)
  --beam-runner        BEAM_RUNNER                direct (in the component's container) or dataflow
  --beam-workers       BEAM_WORKERS               DirectRunner processes: 1 in-process, 0 one per core
  --temp-location      BEAM_TEMP_LOCATION         Dataflow temp location (default: PIPELINE_ROOT/tmp)
  --accelerator        TRAINER_ACCELERATOR        Vertex accelerator type: NVIDIA_TESLA_T4, NVIDIA_L4, TPU_V3, ...
  --accelerator-count  TRAINER_ACCELERATOR_COUNT  accelerators per replica (default: 1)
  --machine-type       TRAINER_MACHINE_TYPE       machine type of each trainer replica
  --trainer-replicas   TRAINER_REPLICAS           trainer replicas; more than 1 trains multi-worker
  --tune               TUNE                       search the hyperparameters (Tuner), train with the best
  --tuner-trials       TUNER_TRIALS               with --tune: trials (default: 4)
  --tuner-parallel     TUNER_PARALLEL             with --tune, vertex target: trials at once (default: 1)
  --tuner-seconds      TUNER_SECONDS              with --tune: no trial starts after this (default: 480)
  --endpoint-name      VERTEX_ENDPOINT            vertex target: push to the Model Registry and this endpoint
  --serving-machine-type SERVING_MACHINE_TYPE     its replicas' machine type (default: n1-standard-2)
  --min-replicas       SERVING_MIN_REPLICAS       its replicas always up (default: 1)
  --max-replicas       SERVING_MAX_REPLICAS       its replicas under load (default: 1)
  --serving-image      SERVING_IMAGE              its container (default: Vertex's prebuilt TF 2.15 CPU image)
  --endpoint           KFP_ENDPOINT               (deploy) Kubeflow Pipelines API URL
  --experiment         KFP_EXPERIMENT             (deploy) experiment of the runs (default: the pipeline name)
  --namespace          KFP_NAMESPACE              (deploy) Kubernetes namespace of a multi-user cluster

Any of --accelerator, --machine-type or --trainer-replicas > 1 makes the Trainer a Vertex AI custom job. On the
vertex target, so does that or --tuner-parallel > 1 make the Tuner one, its trials on the Trainer's machine spec.
What TensorFlow, absl, Beam and google-api-core write is discarded (compile, deploy) or goes to
<pipeline-root>/logs/<run id>.log (run-local); --verbose shows it.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import logging
import os
import sys
import time
import warnings
from typing import Any, List, Mapping, Optional, Sequence, Tuple

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
warnings.filterwarnings('ignore', category=FutureWarning, module='google.api_core')  # "Python 3.10 unsupported"

from models import keras_choice  # noqa: E402

keras_choice.use_tf_keras()

from pipeline import config as config_lib  # noqa: E402  (after the Keras choice)
from pipeline.compiled import run_local  # noqa: E402
from pipeline.compiled.flags import (BEAM_RUNNERS, add_pipeline_flags, serving_endpoint, tuner_on_vertex,  # noqa: E402
                                     tuning_problems)
from pipeline.ingest.spans import CSV_PATTERN, SPAN_PATTERN  # noqa: E402
from pipeline.local import console  # noqa: E402

CONTAINER_SCHEMA_FILE = '/pipeline/schema/schema.pbtxt'
TARGETS = ('vertex', 'kfp')
DEFAULT_OUTPUTS = {'vertex': 'pipeline.json', 'kfp': 'pipeline.yaml'}
KFP_NOTE = ('kfp target: the open-source Kubeflow Pipelines backend cannot execute TFX Resolver nodes, so this '
            'pipeline has no baseline resolver and the Evaluator blesses on absolute thresholds only '
            '(AUC >= {auc_floor}); the vertex target also requires no regression against the last blessed model.')
VERTEX_NOTE = ('vertex target: the Evaluator blesses on AUC >= {auc_floor} and no regression against the last '
               'blessed model (latest_blessed_model_resolver).')


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
  """The command line: compile and deploy."""
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  commands = parser.add_subparsers(dest='command', required=True)
  compile_parser = commands.add_parser('compile', help='write the compiled pipeline')
  compile_parser.add_argument('--target', choices=TARGETS, default='vertex',
                              help='vertex: a Vertex AI PipelineJob; kfp: a bare KFP v2 PipelineSpec '
                                   '(default: %(default)s)')
  add_pipeline_flags(compile_parser, environ)
  run_local.add_flags(commands.add_parser(
      'run-local', help='run a compiled spec on this machine, task by task, as the KFP v2 launcher would'))
  deploy_parser = commands.add_parser(
      'deploy', help='compile for kfp and upload to a Kubeflow Pipelines v2 cluster; optionally run or schedule it')
  deploy_parser.add_argument('--endpoint', default=environ.get('KFP_ENDPOINT', ''),
                             help='Kubeflow Pipelines API, for example http://localhost:8080 [KFP_ENDPOINT]')
  deploy_parser.add_argument('--version', default='',
                             help='name of the uploaded pipeline version (default: a UTC timestamp)')
  deploy_parser.add_argument('--run', action='store_true', help='start a run of the uploaded version')
  deploy_parser.add_argument('--schedule', default='', metavar='CRON',
                             help="create a recurring run: 5 cron fields ('0 3 * * *', seconds 0 added) or "
                                  'the 6 fields KFP takes')
  deploy_parser.add_argument('--experiment', default=environ.get('KFP_EXPERIMENT', ''),
                             help='experiment of the runs [KFP_EXPERIMENT] (default: the pipeline name)')
  deploy_parser.add_argument('--namespace', default=environ.get('KFP_NAMESPACE', ''),
                             help='namespace of a multi-user Kubeflow cluster [KFP_NAMESPACE]')
  deploy_parser.add_argument('--token', default=environ.get('KF_PIPELINES_TOKEN', ''),
                             help='bearer token of a cluster that authenticates API calls, for example '
                                  '`kubectl create token default-editor -n NAMESPACE` [KF_PIPELINES_TOKEN]')
  deploy_parser.add_argument('--cookies', default=environ.get('KF_PIPELINES_COOKIES', ''),
                             help='cookies of a cluster behind a login page, as the Cookie header sends them '
                                  '(authservice_session=...) [KF_PIPELINES_COOKIES]')
  add_pipeline_flags(deploy_parser, environ)
  deploy_parser.set_defaults(target='kfp')
  return parser


def parse_args(argv: Sequence[str], environ: Mapping[str, str]) -> argparse.Namespace:
  """Parsed flags; arguments that start with no subcommand (none at all, from the tfx CLI) mean compile."""
  argv = list(argv)
  if not argv or argv[0] not in ('compile', 'deploy', 'run-local', '-h', '--help'):
    argv = ['compile'] + argv
  parser = build_parser(environ)
  args = parser.parse_args(argv)
  if args.command == 'run-local':
    return args
  if not args.pipeline_root:
    parser.error('set PIPELINE_ROOT or pass --pipeline-root (for example gs://my-bucket/taxi-big-tipper)')
  if args.accelerator and args.accelerator not in vertex_accelerators(args.verbose):
    parser.error(f'--accelerator {args.accelerator} is not a Vertex AI accelerator type; one of: '
                 f'{", ".join(vertex_accelerators())}')
  if args.beam_runner not in BEAM_RUNNERS:
    parser.error(f'--beam-runner (or BEAM_RUNNER) {args.beam_runner!r} is not one of {", ".join(BEAM_RUNNERS)}')
  if args.beam_runner == 'dataflow' and not (args.project and args.region):
    parser.error('--beam-runner dataflow needs --project and --region (or GOOGLE_CLOUD_PROJECT, '
                 'GOOGLE_CLOUD_REGION)')
  if args.warm_start and args.target == 'kfp':
    parser.error('--warm-start needs the latest blessed model resolver, which the open-source KFP backend cannot '
                 'execute: use compile --target vertex')
  if args.command == 'deploy' and not args.endpoint:
    parser.error('deploy needs --endpoint (or KFP_ENDPOINT), the Kubeflow Pipelines API URL')
  if args.command == 'deploy' and args.schedule:
    try:
      kfp_cron(args.schedule)
    except ValueError as e:
      parser.error(str(e))
  args.output = args.output or DEFAULT_OUTPUTS[args.target]
  args.image = args.image or f'gcr.io/{args.project or "YOUR_PROJECT"}/{config_lib.PIPELINE_NAME}'
  problems = dataflow_option_errors(beam_args(args), args.verbose) if args.beam_runner == 'dataflow' else []
  if problems:
    parser.error('the Dataflow options do not pass Beam\'s validation: ' + '; '.join(p.strip() for p in problems))
  try:
    args.hardware = trainer_hardware(args)
  except ValueError as e:
    parser.error(str(e))
  if tuning_problems(args):
    parser.error('; '.join(tuning_problems(args)))
  try:
    with console.for_command(os.devnull, args.verbose):  # the Vertex AI SDK's import warns
      args.serving_endpoint = serving_endpoint(args)
  except ValueError as e:
    parser.error(str(e))
  return args


def vertex_accelerators(verbose: bool = False) -> List[str]:
  """The accelerator type names Vertex AI knows, from the installed google-cloud-aiplatform."""
  with console.for_command(os.devnull, verbose):  # its import warns
    from google.cloud.aiplatform_v1.types import accelerator_type  # pylint: disable=g-import-not-at-top
  return [a.name for a in accelerator_type.AcceleratorType if a.value]


def trainer_hardware(args: argparse.Namespace) -> config_lib.TrainerHardware:
  """The Trainer's hardware from the flags (ValueError when they contradict each other)."""
  return config_lib.TrainerHardware(
      accelerator_type=args.accelerator, accelerator_count=args.accelerator_count, machine_type=args.machine_type,
      replicas=args.trainer_replicas, project=args.project, region=args.region, image=args.image)


def beam_args(args: argparse.Namespace) -> Tuple[str, ...]:
  """Beam arguments of every Beam component: DirectRunner inside the component's container, or Dataflow.

  The image has this project installed, so neither needs --setup_file; Dataflow workers run the same image.
  """
  if args.beam_runner == 'dataflow':
    root = args.pipeline_root.rstrip('/')
    runner = ('--runner=DataflowRunner', f'--project={args.project}', f'--region={args.region}',
              f'--temp_location={args.temp_location or root + "/tmp"}',
              f'--staging_location={args.staging_location or root + "/staging"}',
              f'--sdk_container_image={args.image}', '--experiments=use_runner_v2')
    runner += tuple(f'--{name}={value}' for name, value in (
        ('service_account_email', args.service_account), ('network', args.network),
        ('subnetwork', args.subnetwork)) if value)
  elif args.beam_workers != 1:
    runner = ('--direct_running_mode=multi_processing', f'--direct_num_workers={args.beam_workers}')
  else:
    runner = ()
  return runner + tuple(args.beam_arg)


def dataflow_option_errors(arguments: Sequence[str], verbose: bool = False) -> List[str]:
  """What Beam's own option validators find wrong with Dataflow pipeline arguments.

  The validators Beam runs before it submits a Dataflow job, less the two that need Google Cloud (the default-bucket
  lookup and the soft-delete check on the buckets): nothing is submitted and nothing leaves the machine.
  """
  with console.for_command(os.devnull, verbose):  # their imports warn
    from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
    from apache_beam.options import pipeline_options_validator  # pylint: disable=g-import-not-at-top
    from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner  # pylint: disable=g-import-not-at-top
  options = pipeline_options.PipelineOptions(list(arguments))
  validator = pipeline_options_validator.PipelineOptionsValidator(options, DataflowRunner())
  cloud = options.view_as(pipeline_options.GoogleCloudOptions)
  workers = options.view_as(pipeline_options.WorkerOptions)
  beam_logger = logging.getLogger(pipeline_options.__name__)
  level = beam_logger.level
  beam_logger.setLevel(logging.ERROR)  # each view would warn about an unknown option again: it is reported once here
  try:
    known = options.get_all_options()
  finally:
    beam_logger.setLevel(level)
  unknown = [a for a in arguments if a.startswith('--') and a.split('=', 1)[0][2:] not in known]
  return ([f'unknown Beam option {a}' for a in unknown] + validator.validate_cloud_options(cloud)
          + validator.validate_gcs_path(cloud, 'temp_location') + validator.validate_gcs_path(cloud, 'staging_location')
          + validator.validate_sdk_container_image_options(workers) + validator.validate_num_workers(workers)
          + validator.validate_worker_region_zone(workers)
          + options.view_as(pipeline_options.DebugOptions).validate(validator))


def cloud_config(args: argparse.Namespace) -> config_lib.PipelineConfig:
  """The pipeline configuration for a target: the kfp target drops the baseline resolver it cannot execute."""
  root = args.pipeline_root.rstrip('/')
  return config_lib.PipelineConfig(
      data_root=args.data_root or f'{root}/data',
      pipeline_root=root,
      serving_model_dir=f'{root}/serving_model',
      pipeline_name=args.pipeline_name,
      schema_file=CONTAINER_SCHEMA_FILE,
      train_steps=args.train_steps,
      beam_pipeline_args=beam_args(args),
      enable_cache=not args.no_cache,
      compare_to_baseline=args.target == 'vertex',
      input_pattern=SPAN_PATTERN if args.span_folders else CSV_PATTERN,
      warm_start=args.warm_start,
      trainer_hardware=args.hardware,
      tune=args.tune,
      tuner_trials=args.tuner_trials,
      tuner_seconds=args.tuner_seconds,
      tuner_parallel=args.tuner_parallel,
      tuner_on_vertex=tuner_on_vertex(args),
      serving_endpoint=args.serving_endpoint,
      inference_data_root=args.inference_data,
      predictions_root=f'{root}/predictions')


def describe(config: config_lib.PipelineConfig, target: str) -> List[str]:
  """What the compiled pipeline does differently per target and where its Trainer runs."""
  hardware = config.trainer_hardware
  lines = [(KFP_NOTE if target == 'kfp' else VERTEX_NOTE).format(auc_floor=config.auc_floor)]
  machine = hardware.machine_type or config_lib.DEFAULT_TRAINER_MACHINE
  if hardware.accelerator_type:
    machine += f' with {hardware.accelerator_count} x {hardware.accelerator_type}'
  if hardware.custom_job:
    lines.append(f'Trainer: Vertex AI custom job in {hardware.project}/{hardware.region}, {hardware.replicas} '
                 f'replica(s) of {machine}.')
  else:
    lines.append('Trainer: in the pipeline container (no accelerator).')
  if config.tune and config.tuner_on_vertex:
    lines.append(f'Tuner: Vertex AI custom job in {hardware.project}/{hardware.region}, {config.tuner_trials} '
                 f'trial(s), {config.tuner_parallel} at a time, each on a replica of {machine}.')
  elif config.tune:
    lines.append(f'Tuner: {config.tuner_trials} trial(s) in the pipeline container, one at a time.')
  endpoint = config.serving_endpoint
  if endpoint.name:
    lines.append(f'Pusher: Vertex AI Model Registry in {endpoint.project}/{endpoint.region}, deployed to endpoint '
                 f'{endpoint.name} on {endpoint.min_replicas}-{endpoint.max_replicas} replica(s) of '
                 f'{endpoint.machine_type}, serving image {endpoint.image}.')
  if config.inference_data_root:
    lines.append(f'BulkInferrer: scores {config.inference_data_root} with this run\'s model when the Evaluator '
                 f'blesses it, into {config.predictions_root}/<run id>/predictions.csv (nothing when it does not).')
  lines.append(f'Beam: {" ".join(config.beam_pipeline_args) or "DirectRunner in-process"}')
  return lines


def set_default_pipeline_root(path: str, pipeline_root: str) -> None:
  """Records the pipeline root in a compiled PipelineSpec YAML, so that runs started from the Kubeflow UI use it."""
  import yaml  # pylint: disable=g-import-not-at-top
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  with fileio.open(path, 'r') as f:
    text = f.read()
  header = ''.join(itertools.takewhile(lambda line: line.startswith('#'), text.splitlines(keepends=True)))
  spec = yaml.safe_load(text)
  spec['defaultPipelineRoot'] = pipeline_root
  with fileio.open(path, 'w') as f:
    f.write(header + yaml.safe_dump(spec, sort_keys=True))


def compile_pipeline(args: argparse.Namespace, out: console.Console) -> config_lib.PipelineConfig:
  """Writes the pipeline for args.target to args.output (or where the tfx CLI redirects it)."""
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from pipeline.dag import create_pipeline  # pylint: disable=g-import-not-at-top
  config = cloud_config(args)
  output = os.path.abspath(args.output) if '://' not in args.output else args.output
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=args.image),
      output_dir=os.path.dirname(output), output_filename=os.path.basename(output))
  started = time.time()
  runner.run(create_pipeline(config))
  if args.target == 'kfp':
    set_default_pipeline_root(output, config.pipeline_root)
  for line in describe(config, args.target):
    out.say(line)
  if os.path.isfile(output) and os.path.getmtime(output) >= started - 1:
    out.say(f'Wrote {output}')
  return config


def kfp_cron(expression: str) -> str:
  """A cron expression as KFP's scheduler takes it: six fields, seconds first."""
  fields = expression.split()
  if len(fields) == 5:
    return ' '.join(['0'] + fields)
  if len(fields) == 6:
    return ' '.join(fields)
  raise ValueError(f'--schedule {expression!r}: a cron expression has 5 fields (minute hour day month weekday) '
                   'or, as KFP takes it, 6 (seconds first)')


def api_errors() -> Tuple[type, ...]:
  """What kfp.Client raises when the endpoint is unreachable or answers with an error."""
  import kfp_server_api  # pylint: disable=g-import-not-at-top
  import urllib3  # pylint: disable=g-import-not-at-top
  return kfp_server_api.ApiException, urllib3.exceptions.HTTPError, OSError, ValueError


def connect(endpoint: str, namespace: str, token: str = '', cookies: str = '') -> Any:
  """A kfp.Client for the endpoint, authenticated by a token or cookies when given; SystemExit with the reason when
  nothing answers there."""
  import kfp  # pylint: disable=g-import-not-at-top
  kwargs = {name: value for name, value in (('namespace', namespace), ('existing_token', token),
                                            ('cookies', cookies)) if value}
  try:
    return kfp.Client(host=endpoint, **kwargs)
  except api_errors() as e:
    raise SystemExit(f'error: cannot reach Kubeflow Pipelines at {endpoint}: {type(e).__name__}: {e}') from None


def upload(client: Any, package: str, name: str, version: str, out: console.Console) -> Tuple[str, str]:
  """Uploads a package as a new pipeline, or as a new version of the existing one: (pipeline id, version id).

  A new pipeline's first version is the one KFP creates with it, named after the pipeline.
  """
  pipeline_id = client.get_pipeline_id(name)
  if pipeline_id is None:
    description = f'{name}: TFX pipeline compiled by kubeflow_runner.py'
    pipeline_id = client.upload_pipeline(pipeline_package_path=package, pipeline_name=name,
                                         description=description).pipeline_id
    versions = client.list_pipeline_versions(pipeline_id=pipeline_id, page_size=1).pipeline_versions
    out.say(f'Uploaded new pipeline {name} ({pipeline_id})')
    return pipeline_id, versions[0].pipeline_version_id
  version_id = client.upload_pipeline_version(pipeline_package_path=package, pipeline_version_name=version,
                                              pipeline_id=pipeline_id).pipeline_version_id
  out.say(f'Uploaded version {version} of pipeline {name} ({pipeline_id})')
  return pipeline_id, version_id


def deploy(args: argparse.Namespace, out: console.Console) -> int:
  """Compiles for kfp, uploads, and starts a run and/or a recurring run when asked."""
  config = compile_pipeline(args, out)
  version = args.version or datetime.datetime.now(datetime.timezone.utc).strftime('v%Y%m%d-%H%M%S')
  client = connect(args.endpoint, args.namespace, args.token, args.cookies)
  try:
    pipeline_id, version_id = upload(client, os.path.abspath(args.output), config.pipeline_name, version, out)
    if not (args.run or args.schedule):
      return 0
    namespace = args.namespace or None
    experiment_id = client.create_experiment(name=args.experiment or config.pipeline_name,
                                             namespace=namespace).experiment_id
    job = {'experiment_id': experiment_id, 'pipeline_id': pipeline_id, 'version_id': version_id,
           'pipeline_root': config.pipeline_root}
    if args.run:
      run = client.run_pipeline(job_name=f'{config.pipeline_name} {version}', **job)
      out.say(f'Started run {run.run_id}')
    if args.schedule:
      recurring = client.create_recurring_run(job_name=f'{config.pipeline_name} {version} schedule',
                                              cron_expression=kfp_cron(args.schedule), max_concurrency=1,
                                              no_catchup=True, **job)
      out.say(f'Scheduled recurring run {recurring.recurring_run_id} ({kfp_cron(args.schedule)})')
  except api_errors() as e:
    raise SystemExit(f'error: Kubeflow Pipelines at {args.endpoint}: {type(e).__name__}: {e}') from None
  return 0


def main(argv: Optional[Sequence[str]] = None, environ: Mapping[str, str] = os.environ) -> int:
  """compile (the default), deploy or run-local."""
  args = parse_args(sys.argv[1:] if argv is None else argv, environ)
  if args.command == 'run-local':
    return run_local.main(args)
  with console.for_command(os.devnull, args.verbose) as out:
    if args.command == 'deploy':
      return deploy(args, out)
    compile_pipeline(args, out)
  return 0


if __name__ == '__main__':
  sys.exit(main())
