"""The flags of kubeflow_runner.py compile and deploy that shape the compiled pipeline, each defaulting to an
environment variable (the tfx CLI passes none), and the checks of the tuning flags."""
from __future__ import annotations

import argparse
from typing import List, Mapping

from pipeline import config as config_lib

BEAM_RUNNERS = ('direct', 'dataflow')
SERVING_TF_VERSION = '2.15'  # the newest TensorFlow of Vertex AI's prebuilt prediction images that the SDK lists.


def env_int(environ: Mapping[str, str], name: str, default: int) -> int:
  """An integer environment variable, or default when unset or empty."""
  value = environ.get(name, '')
  try:
    return int(value) if value else default
  except ValueError:
    raise SystemExit(f'error: {name}={value!r} is not an integer') from None


TRUE_WORDS, FALSE_WORDS = ('1', 'true', 'yes', 'on'), ('', '0', 'false', 'no', 'off')


def env_bool(environ: Mapping[str, str], name: str) -> bool:
  """A boolean environment variable: 1/true/yes/on or 0/false/no/off (any case); unset or empty is false."""
  value = environ.get(name, '')
  if value.strip().lower() in TRUE_WORDS:
    return True
  if value.strip().lower() in FALSE_WORDS:
    return False
  raise SystemExit(f'error: {name}={value!r} is not a boolean: use 1, true, yes, on or 0, false, no, off')


def add_pipeline_flags(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
  """The flags that shape the compiled pipeline, defaulting to environment variables."""
  parser.add_argument('--pipeline-root', default=environ.get('PIPELINE_ROOT', ''),
                      help='gs://bucket/path where artifacts and the pushed model go, or a local directory for '
                           'run-local [PIPELINE_ROOT]')
  parser.add_argument('--data-root', default=environ.get('DATA_ROOT', ''),
                      help='directory of CSV files [DATA_ROOT] (default: PIPELINE_ROOT/data)')
  parser.add_argument('--inference-data', default=environ.get('INFERENCE_DATA', ''),
                      help='directory of CSV files with the serving columns to score after a blessed run, into '
                           'PIPELINE_ROOT/predictions/<run id>/ [INFERENCE_DATA] (default: none)')
  parser.add_argument('--span-folders', action='store_true', default=env_bool(environ, 'SPAN_FOLDERS'),
                      help='the data root holds span-N/ folders: each run ingests the latest [SPAN_FOLDERS]')
  parser.add_argument('--warm-start', action='store_true', default=env_bool(environ, 'WARM_START'),
                      help='start training from the last blessed model (vertex target only) [WARM_START]')
  parser.add_argument('--image', default=environ.get('PIPELINE_IMAGE', ''),
                      help='container image built from ./Dockerfile [PIPELINE_IMAGE] (default: '
                           f'gcr.io/PROJECT/{config_lib.PIPELINE_NAME})')
  parser.add_argument('--project', default=environ.get('GOOGLE_CLOUD_PROJECT', ''),
                      help='GCP project [GOOGLE_CLOUD_PROJECT]')
  parser.add_argument('--region', default=environ.get('GOOGLE_CLOUD_REGION', ''),
                      help='GCP region of Dataflow and Vertex AI training jobs [GOOGLE_CLOUD_REGION]')
  parser.add_argument('--output', default=environ.get('PIPELINE_OUTPUT', ''),
                      help='compiled file [PIPELINE_OUTPUT] (default: pipeline.json for vertex, pipeline.yaml '
                           'for kfp)')
  parser.add_argument('--pipeline-name', default=config_lib.PIPELINE_NAME, help='(default: %(default)s)')
  parser.add_argument('--train-steps', type=int, default=env_int(environ, 'TRAIN_STEPS',
                                                                  config_lib.PipelineConfig.train_steps),
                      help='training steps [TRAIN_STEPS] (default: %(default)s)')
  parser.add_argument('--no-cache', action='store_true', help='disable the platform cache for every component')
  parser.add_argument('--beam-runner', choices=BEAM_RUNNERS, default=environ.get('BEAM_RUNNER', 'direct'),
                      help='where Beam components run: in their container, or on Dataflow [BEAM_RUNNER] '
                           '(default: %(default)s)')
  parser.add_argument('--beam-workers', type=int, default=env_int(environ, 'BEAM_WORKERS', 1),
                      help='DirectRunner processes; 1 in-process, 0 one per core [BEAM_WORKERS] '
                           '(default: %(default)s)')
  parser.add_argument('--temp-location', default=environ.get('BEAM_TEMP_LOCATION', ''),
                      help='Dataflow temp location [BEAM_TEMP_LOCATION] (default: PIPELINE_ROOT/tmp)')
  parser.add_argument('--staging-location', default=environ.get('BEAM_STAGING_LOCATION', ''),
                      help='Dataflow staging location [BEAM_STAGING_LOCATION] (default: PIPELINE_ROOT/staging)')
  parser.add_argument('--service-account', default=environ.get('DATAFLOW_SERVICE_ACCOUNT', ''),
                      help='service account of the Dataflow workers [DATAFLOW_SERVICE_ACCOUNT]')
  parser.add_argument('--network', default=environ.get('DATAFLOW_NETWORK', ''),
                      help='VPC network of the Dataflow workers [DATAFLOW_NETWORK]')
  parser.add_argument('--subnetwork', default=environ.get('DATAFLOW_SUBNETWORK', ''),
                      help='subnetwork of the Dataflow workers, for example '
                           'regions/REGION/subnetworks/NAME [DATAFLOW_SUBNETWORK]')
  parser.add_argument('--beam-arg', action='append', default=[], metavar='ARG',
                      help='one more Beam pipeline argument, repeatable (for example --beam-arg=--max_num_workers=4)')
  parser.add_argument('--accelerator', default=environ.get('TRAINER_ACCELERATOR', ''), metavar='TYPE',
                      help='Vertex AI accelerator of each trainer replica, for example NVIDIA_TESLA_T4, NVIDIA_L4, '
                           'NVIDIA_TESLA_A100, TPU_V3, TPU_V5_LITEPOD [TRAINER_ACCELERATOR]')
  parser.add_argument('--accelerator-count', type=int, default=env_int(environ, 'TRAINER_ACCELERATOR_COUNT', 1),
                      metavar='N', help='accelerators per replica [TRAINER_ACCELERATOR_COUNT] (default: %(default)s)')
  parser.add_argument('--machine-type', default=environ.get('TRAINER_MACHINE_TYPE', ''), metavar='M',
                      help='machine type of each trainer replica [TRAINER_MACHINE_TYPE]')
  parser.add_argument('--trainer-replicas', type=int, default=env_int(environ, 'TRAINER_REPLICAS', 1), metavar='N',
                      help='trainer replicas; more than 1 trains with MultiWorkerMirroredStrategy '
                           '[TRAINER_REPLICAS] (default: %(default)s)')
  parser.add_argument('--tune', action='store_true', default=env_bool(environ, 'TUNE'),
                      help='search the hyperparameters (Tuner) and train with the best [TUNE]')
  parser.add_argument('--tuner-trials', type=int, metavar='N',
                      default=env_int(environ, 'TUNER_TRIALS', config_lib.DEFAULT_TUNER_TRIALS),
                      help='with --tune: trials of --train-steps each [TUNER_TRIALS] (default: %(default)s)')
  parser.add_argument('--tuner-parallel', type=int, metavar='K', default=env_int(environ, 'TUNER_PARALLEL', 1),
                      help='with --tune on vertex: trials run at once, one per replica of a Vertex AI custom job '
                           '[TUNER_PARALLEL] (default: %(default)s)')
  parser.add_argument('--tuner-seconds', type=int, metavar='S',
                      default=env_int(environ, 'TUNER_SECONDS', config_lib.DEFAULT_TUNER_SECONDS),
                      help='with --tune: no trial starts after S seconds of search (0: no limit) [TUNER_SECONDS] '
                           '(default: %(default)s)')
  parser.add_argument('--endpoint-name', default=environ.get('VERTEX_ENDPOINT', ''), metavar='NAME',
                      help='vertex target only: the Pusher uploads a blessed model to the Vertex AI Model Registry '
                           'and deploys it to the online endpoint of this display name, created when missing '
                           '[VERTEX_ENDPOINT] (default: none, push to PIPELINE_ROOT/serving_model)')
  parser.add_argument('--serving-machine-type', metavar='M',
                      default=environ.get('SERVING_MACHINE_TYPE', '') or config_lib.DEFAULT_SERVING_MACHINE,
                      help='with --endpoint-name: machine type of each serving replica [SERVING_MACHINE_TYPE] '
                           '(default: %(default)s)')
  parser.add_argument('--min-replicas', type=int, metavar='N', default=env_int(environ, 'SERVING_MIN_REPLICAS', 1),
                      help='with --endpoint-name: serving replicas always up [SERVING_MIN_REPLICAS] '
                           '(default: %(default)s)')
  parser.add_argument('--max-replicas', type=int, metavar='N', default=env_int(environ, 'SERVING_MAX_REPLICAS', 1),
                      help='with --endpoint-name: serving replicas under load [SERVING_MAX_REPLICAS] '
                           '(default: %(default)s)')
  parser.add_argument('--serving-image', default=environ.get('SERVING_IMAGE', ''), metavar='URI',
                      help='with --endpoint-name: the serving container [SERVING_IMAGE] (default: Vertex AI\'s '
                           f'prebuilt TensorFlow {SERVING_TF_VERSION} CPU prediction image of the region)')
  parser.add_argument('--verbose', action='store_true', help='show the warnings and logs of the libraries')


def tuner_on_vertex(args: argparse.Namespace) -> bool:
  """Whether the Tuner is TFX's Vertex AI Tuner: with --tune on the vertex target, when trials run in parallel or the
  Trainer is a custom job (its trials then run on the Trainer's machine); else it runs in its pipeline container."""
  return args.tune and args.target == 'vertex' and (args.tuner_parallel > 1 or args.hardware.custom_job)


def tuning_problems(args: argparse.Namespace) -> List[str]:
  """What is wrong with the tuning flags, as messages naming the flag to fix (args.hardware is already built)."""
  problems = [f'--{flag} must be at least {least}, not {value}' for flag, value, least in (
      ('tuner-trials', args.tuner_trials, 1), ('tuner-parallel', args.tuner_parallel, 1),
      ('tuner-seconds', args.tuner_seconds, 0)) if value < least]
  if problems or not args.tune or args.tuner_parallel == 1:
    return problems
  if args.target == 'kfp':
    return [f'--tuner-parallel {args.tuner_parallel} needs --target vertex: the kfp target runs the Tuner in its '
            'pipeline container, one trial at a time']
  if args.tuner_parallel > args.tuner_trials:
    problems.append(f'--tuner-parallel {args.tuner_parallel} is more than --tuner-trials {args.tuner_trials}')
  if args.hardware.tpu:
    problems.append('a TPU Vertex AI job runs on one host: --tuner-parallel must be 1 with a TPU accelerator')
  missing = [flag for flag, value in (('--project', args.project), ('--region', args.region)) if not value]
  if missing:
    problems.append(f'parallel Vertex AI tuning trials need {", ".join(missing)}')
  return problems


def prebuilt_serving_image(region: str) -> str:
  """Vertex AI's prebuilt TensorFlow CPU prediction image for a region ('' without a region)."""
  if not region:
    return ''
  from google.cloud.aiplatform import helpers  # pylint: disable=g-import-not-at-top
  try:
    return helpers.get_prebuilt_prediction_container_uri('tensorflow', SERVING_TF_VERSION, region, 'cpu')
  except ValueError as e:
    raise ValueError(f'{e}: pass --serving-image') from None


def serving_endpoint(args: argparse.Namespace) -> config_lib.ServingEndpoint:
  """The Pusher's Vertex AI endpoint from the flags (ValueError when they contradict each other or the target)."""
  if args.endpoint_name and args.target == 'kfp':
    raise ValueError(f'--endpoint-name {args.endpoint_name} needs --target vertex: the kfp target pushes to '
                     'PIPELINE_ROOT/serving_model, for a model server of your own')
  image = args.serving_image or (prebuilt_serving_image(args.region) if args.endpoint_name else '')
  return config_lib.ServingEndpoint(
      name=args.endpoint_name, machine_type=args.serving_machine_type, min_replicas=args.min_replicas,
      max_replicas=args.max_replicas, project=args.project, region=args.region, image=image)
