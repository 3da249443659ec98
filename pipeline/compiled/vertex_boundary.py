"""The Vertex AI boundary of a Trainer or Tuner compiled as a custom job, and of TFX's Vertex AI Pusher, for
run-local: nothing leaves the machine.

    python -m pipeline.compiled.vertex_boundary REQUEST_FILE -- COMMAND ARGS...

runs a task's container module (COMMAND ARGS, TFX's v2 entrypoint) in this process with TFX's own Vertex code.
For training, except its two calls to Google Cloud: the job service client is not created, and instead of submitting
the CustomJob that TFX built, the request is checked against the Vertex AI API's message types (CustomJob), written
to REQUEST_FILE with the parent it would be created under, and the chief's worker pool (workerpool0) runs its
container command here, in this image, as the job's first replica would. For the Pusher, the Vertex AI SDK's API
clients are replaced by pipeline/compiled/vertex_endpoint.py, which checks and records in REQUEST_FILE the endpoint,
model upload and deployment requests the SDK builds.
"""
from __future__ import annotations

import json
import runpy
import subprocess
import sys
from typing import Any, Dict, List

from pipeline import compat
from pipeline.compiled import launcher, vertex_endpoint


def checked_custom_job(training_job: Dict[str, Any]) -> Dict[str, Any]:
  """The request as the Vertex AI API reads it; ValueError naming what it would refuse."""
  from google.cloud.aiplatform_v1.types import custom_job  # pylint: disable=g-import-not-at-top
  try:
    message = custom_job.CustomJob(training_job)
  except (ValueError, TypeError, KeyError) as e:
    raise ValueError(f'the CustomJob TFX built is not a valid Vertex AI request: {e}') from e
  return type(message).to_dict(message, preserving_proto_field_name=True, use_integers_for_enums=False,
                               including_default_value_fields=False)


def chief_command(training_job: Dict[str, Any]) -> List[str]:
  """The container command of workerpool0, the chief, with this interpreter as its python."""
  command = training_job['job_spec']['worker_pool_specs'][0]['container_spec']['command']
  return [sys.executable, *command[1:]] if command and command[0] == 'python' else command


def launch_here(request_file: str):
  """A stand-in for TFX's _launch_cloud_training: check and record the request, then run the chief here."""

  def launch(project: str, training_job: Dict[str, Any], enable_vertex: bool = False,
             vertex_region: str = None) -> None:
    if not enable_vertex:
      raise ValueError('run-local stands in for Vertex AI training jobs only')
    request = {'parent': f'projects/{project}/locations/{vertex_region}',
               'custom_job': checked_custom_job(training_job)}
    with open(request_file, 'w', encoding='utf-8') as f:
      json.dump(request, f, indent=2, sort_keys=True)
    subprocess.run(chief_command(training_job), check=True)

  return launch


def main(argv: List[str]) -> None:
  """Puts the stand-ins for Google Cloud in place, then runs the container module with its args."""
  from tfx.extensions.google_cloud_ai_platform import runner, training_clients  # pylint: disable=g-import-not-at-top
  request_file, separator, module_flag, module, *args = argv
  if separator != '--' or module_flag != '-m':
    raise SystemExit('usage: python -m pipeline.compiled.vertex_boundary REQUEST_FILE -- -m MODULE ARGS...')
  if launcher.VERTEX_PUSHER in args:
    vertex_endpoint.stand_in(request_file)
  else:
    compat.private('tfx', runner, '_launch_cloud_training')
    runner._launch_cloud_training = launch_here(request_file)  # pylint: disable=protected-access
    training_clients.VertexJobClient.create_client = lambda self: None
  sys.argv = [module, *args]
  runpy.run_module(module, run_name='__main__', alter_sys=True)


if __name__ == '__main__':
  main(sys.argv[1:])
