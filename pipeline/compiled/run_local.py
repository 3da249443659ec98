"""kubeflow_runner.py run-local: a compiled spec run task by task on this machine, before it is deployed.

What it proves: the spec's wiring, parameters and placeholders, every executor's code as the image installs it,
image-only paths, and that the pushed model serves. What it does not: the image pull, GCS or other remote storage,
the cluster's scheduler and service accounts, Vertex AI itself, and caching (each run runs every task again; a
resolver still finds what earlier runs of the same pipeline root made, as Vertex would). A Trainer compiled as a
Vertex AI custom job trains here, through TFX's own Vertex training code up to the request it would send
(pipeline/compiled/vertex_boundary.py), which is checked and printed; a Vertex AI Pusher runs through TFX's and the
Vertex AI SDK's code up to the endpoint, upload and deploy requests (pipeline/compiled/vertex_endpoint.py).

The console gets a line per task and the summary; what the libraries of this process write goes to
<pipeline-root>/logs/<run id>.log (--verbose: to the console), each task's output to its task.log.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

from pipeline import config as config_lib
from pipeline import inference
from pipeline.compiled import image, launcher
from pipeline.compiled import spec as spec_lib
from pipeline.gates import all_gates
from pipeline.local import console, exit_codes

TASK_LINE = '{:<52} {:<10} {:>7}'


def local_root(path: str) -> str:
  """A pipeline root run-local can write: a local directory; ValueError for remote storage."""
  if '://' in path:
    raise ValueError(f'pipeline root {path} is remote: compile with a local --pipeline-root (and --data-root) to '
                     'run the pipeline on this machine')
  if not path:
    raise ValueError('the spec records no pipeline root: compile with --pipeline-root or pass --pipeline-root')
  return os.path.abspath(path)


def summary_lines(results: List[launcher.TaskResult]) -> List[str]:
  """The evaluation, blessing and push that the run's tasks recorded."""
  from pipeline.reporting import run_summary  # pylint: disable=g-import-not-at-top  (TFMA)
  outputs = {r.name: r.outputs for r in results}
  lines = []
  evaluation = outputs.get('Evaluator', {}).get('evaluation', [])
  if evaluation and os.path.isdir(evaluation[0]['uri']):
    metrics = run_summary.read_metrics(evaluation[0]['uri'])
    lines.append(f'Evaluation (eval split): {run_summary.format_metrics(metrics.get((), {}))}')
    blessing = outputs['Evaluator'].get('blessing', [])
    if blessing:
      blessed = blessing[0]['metadata'].get('blessed') == 1
      lines.append('Blessing: ' + ('BLESSED' if blessed else 'NOT BLESSED, so nothing was pushed. Failed thresholds:'))
      if not blessed:
        lines += [f'  - {f}' for f in run_summary.read_validation_failures(evaluation[0]['uri'])]
  pushed = outputs.get('Pusher', {}).get('pushed_model', [])
  if pushed and pushed[0]['metadata'].get('pushed') == 1:
    lines.append(f'Pushed model: {pushed[0]["metadata"].get("pushed_destination")}')
  predictions = outputs.get('PredictionsWriter', {}).get('predictions', [])
  if predictions:
    written = predictions[0]['metadata']
    lines.append(inference.predictions_line(written.get('csv', ''), int(written.get('rows') or 0),
                                            inference.SCORED_BY_THIS_RUN))
  return lines


def vertex_request_lines(results: List[launcher.TaskResult]) -> List[str]:
  """For each task compiled as a Vertex AI custom job: the request it would have sent, in brief, and its file."""
  lines = []
  for result in results:
    path = os.path.join(os.path.dirname(result.log), launcher.VERTEX_REQUEST) if result.state == 'COMPLETE' else ''
    if not path or not os.path.exists(path):
      continue
    with open(path, encoding='utf-8') as f:
      request = json.load(f)
    job = request['custom_job']
    done = 'tuned here, its trials one at a time' if result.name == 'Tuner' else 'trained here'
    lines.append(f'{result.name}: {done}; the Vertex AI custom job it would create in {request["parent"]} '
                 f'(checked against aiplatform_v1.CustomJob, not sent; whole request: {path}):')
    for i, pool in enumerate(job['job_spec']['worker_pool_specs']):
      container = pool['container_spec']
      machine = json.dumps(pool['machine_spec'], sort_keys=True)
      lines.append(f'  workerpool{i}: {pool.get("replica_count", 1)} x {machine}, image {container["image_uri"]}, '
                   f'command {" ".join(container["command"][:3])} ...')
  return lines


def vertex_deploy_lines(results: List[launcher.TaskResult]) -> List[str]:
  """For a Vertex AI Pusher: the requests it would have sent, in brief, and their file."""
  lines = []
  for result in results:
    path = os.path.join(os.path.dirname(result.log), launcher.VERTEX_DEPLOY_REQUESTS) \
        if result.state == 'COMPLETE' else ''
    if not path or not os.path.exists(path):
      continue
    with open(path, encoding='utf-8') as f:
      requests = json.load(f)
    lines.append(f'{result.name}: the Vertex AI requests it would send (checked against aiplatform_v1, not sent; '
                 f'whole requests: {path}):')
    for call in requests:
      request, method = call['request'], call['method'].split('.')[-1]
      if method == 'CreateEndpoint':
        lines.append(f'  {method}: endpoint {request["endpoint"]["display_name"]} in {request["parent"]}')
      elif method == 'UploadModel':
        model = request['model']
        lines.append(f'  {method}: model {model["display_name"]} in {request["parent"]} from '
                     f'{model["artifact_uri"]}, image {model["container_spec"]["image_uri"]}')
      else:
        resources = request['deployed_model']['dedicated_resources']
        lines.append(f'  {method}: to {request["endpoint"]} on {resources["min_replica_count"]}-'
                     f'{resources["max_replica_count"]} x {resources["machine_spec"]["machine_type"]}, traffic '
                     f'{json.dumps(request.get("traffic_split", {}), sort_keys=True)}')
  return lines


def exit_code(results: List[launcher.TaskResult]) -> int:
  """OK when every task completed, BAD_INPUT when a gate stopped the run, else FAILED."""
  failed = [r for r in results if r.state == 'FAILED']
  if not failed:
    return exit_codes.OK
  stopped_by_gate = any(gate.error.__name__ in failed[0].log for gate in all_gates())
  return exit_codes.BAD_INPUT if stopped_by_gate else exit_codes.FAILED


def add_flags(parser: argparse.ArgumentParser) -> None:
  """The flags of kubeflow_runner.py run-local."""
  parser.add_argument('--spec', required=True, help='the compiled file: pipeline.yaml (kfp) or pipeline.json '
                                                    '(vertex), compiled with a local --pipeline-root')
  parser.add_argument('--pipeline-root', default='',
                      help='where the tasks write (default: the pipeline root compiled into the spec)')
  parser.add_argument('--work-dir', default='', help='where the image is installed (default: a new temporary '
                                                     'directory)')
  parser.add_argument('--verbose', action='store_true',
                      help='show the logs of the libraries here (default: in <pipeline-root>/logs/<run id>.log)')


def main(args: argparse.Namespace) -> int:
  """kubeflow_runner.py run-local: the exit code, 2 with the reason when the spec cannot run here."""
  try:
    return run(args.spec, args.pipeline_root or None, args.work_dir or None, args.verbose)
  except (ValueError, OSError, RuntimeError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2


def run(spec_path: str, pipeline_root: Optional[str] = None, work_dir: Optional[str] = None,
        verbose: bool = False) -> int:
  """Installs the image, runs the compiled pipeline, prints a line per task and a summary; the exit code."""
  pipeline = spec_lib.read_spec(spec_path)
  root = local_root(pipeline_root or pipeline.default_root)
  run_id = datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')
  os.makedirs(root, exist_ok=True)
  log_path = '' if verbose else console.new_log_path(root, run_id)
  with console.for_command(log_path, verbose) as out:
    out.say(f'Run-local {run_id} of {pipeline.name} ({spec_path}), pipeline root {root}')
    return run_tasks(pipeline, root, run_id, Path(work_dir or tempfile.mkdtemp(prefix='run-local-')), out)


def run_tasks(pipeline: spec_lib.CompiledPipeline, root: str, run_id: str, work: Path, out: console.Console) -> int:
  """Installs the image in work, runs the tasks, prints a line per task and a summary; the exit code."""
  started = time.monotonic()
  installed = image.install(config_lib.REPO_ROOT, work)
  out.say(f'Image: the project installed as the Dockerfile installs it, in {work} '
          f'({time.monotonic() - started:.1f} s); {image.IMAGE_PROJECT_DIR} is '
          f'{installed.image_paths[image.IMAGE_PROJECT_DIR]}')
  out.say('\n' + TASK_LINE.format('task', 'status', 'seconds'))

  def report(result: launcher.TaskResult) -> None:
    out.say(TASK_LINE.format(result.name, result.state.lower(), f'{result.seconds:.1f}'))

  results = launcher.run_pipeline(pipeline, root, run_id, installed.python, installed.env, installed.image_paths,
                                  report)
  out.say(TASK_LINE.format('whole run (wall clock)', '', f'{time.monotonic() - started:.1f}') + '\n')
  for line in vertex_request_lines(results) + vertex_deploy_lines(results) + summary_lines(results):
    out.say(line)
  failed = [r for r in results if r.state == 'FAILED']
  if failed:
    out.say(f'\nTASK FAILED: {failed[0].name}: {failed[0].log}')
  if out.log_path:
    out.say(f'Log: {out.log_path} (this process; each task\'s output is in its task.log)')
  return exit_code(results)
