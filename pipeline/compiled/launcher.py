"""What the KFP v2 launcher does for each task of a compiled pipeline, done on this machine.

For a container task: the executor input (parameters, the input artifacts that upstream tasks output, with their
URIs and metadata, output artifacts with URIs under the run's root, the executor output file), then exactly the
container's command and args from the spec (TFX's own v2 entrypoint) as a subprocess, then the output artifacts
read back from the executor output file. A lifecycle preCacheCheck (ExampleGen's driver) runs first, as on Vertex.
A resolver task answers its artifact queries from the artifacts earlier run-local runs of the same pipeline root
recorded (ARTIFACT_INDEX), as Vertex answers them from its metadata store.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from pipeline.compiled import spec as spec_lib
from pipeline.compiled.spec import Json, Task

ARTIFACT_INDEX = 'run_local_artifacts.jsonl'  # under the pipeline root: every artifact a run-local task output.
EXECUTOR_OUTPUT = 'executor_output.json'
VERTEX_REQUEST = 'vertex_custom_job.json'  # beside a task's log: the custom job it would have created.
VERTEX_TRAINER = 'tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor'
VERTEX_TUNER = 'tfx.extensions.google_cloud_ai_platform.tuner.executor.Executor'
VERTEX_PUSHER = 'tfx.extensions.google_cloud_ai_platform.pusher.executor.Executor'
VERTEX_DEPLOY_REQUESTS = 'vertex_deploy_requests.json'  # beside a Vertex Pusher's log: the requests it would send.
WHOLE_INPUT = '{{$}}'
QUERY_TERM = re.compile(r'^(\w[\w.]*)\s*=\s*(.+)$')
INPUT_METADATA = re.compile(r"\{\{\$\.inputs\.artifacts\['(\w+)'\]\.metadata\['(\w+)'\]\}\}")


class TaskFailed(RuntimeError):
  """A task's process failed; the message names the task and ends with its log."""


@dataclasses.dataclass
class TaskResult:
  """What a task did: its state, seconds, output artifacts by key and its log file."""
  name: str
  state: str  # COMPLETE, FAILED or NOT RUN
  seconds: float = 0.0
  outputs: Dict[str, List[Json]] = dataclasses.field(default_factory=dict)
  log: str = ''


def artifact_name(run_id: str, task: str, key: str) -> str:
  """The runtime name of an output artifact: unique per run, task and key."""
  return f'run-local/{run_id}/{task}/{key}'


def planned_outputs(task: Task, task_root: str, run_id: str) -> Dict[str, List[Json]]:
  """The output artifacts the launcher hands the executor: type, name and URI, no metadata yet."""
  return {key: [{'name': artifact_name(run_id, task.name, key), 'type': {'schemaTitle': title},
                 'uri': os.path.join(task_root, key), 'metadata': {}}]
          for key, title in spec_lib.output_types(task).items()}


def input_artifacts(task: Task, results: Mapping[str, TaskResult]) -> Dict[str, List[Json]]:
  """The task's input artifacts: the outputs of the upstream tasks its spec wires them from."""
  found = {}
  for key, wiring in task.inputs.get('artifacts', {}).items():
    source = wiring['taskOutputArtifact']
    found[key] = results[source['producerTask']].outputs.get(source['outputArtifactKey'], [])
  return found


def executor_input(task: Task, inputs: Mapping[str, List[Json]], outputs: Mapping[str, List[Json]],
                   output_file: str, image_paths: Mapping[str, str]) -> Json:
  """The ExecutorInput message (as JSON) the launcher passes to a container as {{$}}.

  Parameters go both ways the message has: parameterValues (pipeline spec 2.1, read with an inputs spec) and the
  older typed parameters, which TFX's entrypoints read when the container args carry no inputs spec.
  """
  parameters = {name: spec_lib.map_image_paths(value, image_paths)
                for name, value in spec_lib.parameter_values(task).items()}
  return {'inputs': {'parameterValues': parameters,
                     'parameters': {name: typed_value(value) for name, value in parameters.items()},
                     'artifacts': {key: {'artifacts': artifacts} for key, artifacts in inputs.items()}},
          'outputs': {'artifacts': {key: {'artifacts': artifacts} for key, artifacts in outputs.items()},
                      'outputFile': output_file}}


def typed_value(value: Any) -> Json:
  """A parameter as the older ExecutorInput Value: stringValue, intValue or doubleValue."""
  if isinstance(value, bool) or not isinstance(value, (str, int, float)):
    raise ValueError(f'unsupported parameter value {value!r}')
  kind = 'stringValue' if isinstance(value, str) else 'intValue' if isinstance(value, int) else 'doubleValue'
  return {kind: str(value) if kind == 'intValue' else value}


def substitute(args: Sequence[str], invocation: Json) -> List[str]:
  """The container's args with the launcher's placeholder filled in; ValueError on any other placeholder."""
  filled = []
  for arg in args:
    if arg == WHOLE_INPUT:
      arg = json.dumps(invocation)
    elif '{{$' in arg:
      raise ValueError(f'unsupported placeholder in container args: {arg}')
    filled.append(arg)
  return filled


def image_command(command: Sequence[str], python: str) -> List[str]:
  """The container's command with the image's `python` as this machine's interpreter of the installed image."""
  if not command or command[0] != 'python':
    raise ValueError(f'unsupported container command {list(command)}: TFX tasks start with python')
  return [python, *command[1:]]


def outputs_written(planned: Mapping[str, List[Json]], output_file: str) -> Dict[str, List[Json]]:
  """The output artifacts with the URIs and metadata the executor recorded in its executor output file."""
  written = {}
  if os.path.exists(output_file):
    with open(output_file, encoding='utf-8') as f:
      written = json.load(f).get('artifacts', {})
  outputs = {}
  for key, artifacts in planned.items():
    recorded = written.get(key, {}).get('artifacts', [])
    outputs[key] = [{**artifact, **{k: v for k, v in (recorded[i] if i < len(recorded) else {}).items()
                                    if k in ('uri', 'metadata')}} for i, artifact in enumerate(artifacts)]
  return outputs


def run_process(command: List[str], env: Mapping[str, str], cwd: str, log: str) -> None:
  """Runs one of a task's processes, appending its output to the log; TaskFailed with the log's end on failure."""
  with open(log, 'a', encoding='utf-8') as f:
    f.write(f'$ {" ".join(command[:3])} ...\n')
    f.flush()
    code = subprocess.run(command, env=dict(env), cwd=cwd, stdout=f, stderr=subprocess.STDOUT, check=False).returncode
  if code != 0:
    with open(log, encoding='utf-8', errors='replace') as f:
      tail = ''.join(f.readlines()[-40:])
    raise TaskFailed(f'exit code {code}; log: {log}\n{tail}')


def at_vertex_boundary(command: List[str], args: List[str], request_file: str) -> List[str]:
  """The command of a Trainer or Tuner compiled as a Vertex AI custom job, or of TFX's Vertex AI Pusher, run behind
  pipeline/compiled/vertex_boundary.py. Any other command is returned as it is.
  """
  if not {VERTEX_TRAINER, VERTEX_TUNER, VERTEX_PUSHER} & set(args):
    return command + args
  python, module_flag, module = command
  return [python, '-m', 'pipeline.compiled.vertex_boundary', request_file, '--', module_flag, module, *args]


def with_driver_outputs(invocation: Json) -> Json:
  """The executor input after a driver (preCacheCheck) ran: its output artifacts' metadata (span, version, input
  fingerprint of ExampleGen's examples) carried into the input of the executor, as the launcher does."""
  written = outputs_written({key: value['artifacts'] for key, value in invocation['outputs']['artifacts'].items()},
                            invocation['outputs']['outputFile'])
  return {**invocation, 'outputs': {**invocation['outputs'],
                                    'artifacts': {key: {'artifacts': a} for key, a in written.items()}}}


def run_container(task: Task, invocation: Json, python: str, env: Mapping[str, str], cwd: str, log: str) -> None:
  """The task's lifecycle preCacheCheck (if any) and then its container, with the executor input."""
  container = task.executor['container']
  driver = container.get('lifecycle', {}).get('preCacheCheck')
  request_file = os.path.join(cwd, VERTEX_DEPLOY_REQUESTS if VERTEX_PUSHER in container.get('args', []) else
                              VERTEX_REQUEST)
  if driver:
    run_process(image_command(driver['command'], python) + substitute(driver.get('args', []), invocation), env, cwd,
                log)
    invocation = with_driver_outputs(invocation)
  command = at_vertex_boundary(image_command(container['command'], python),
                               substitute(container.get('args', []), invocation), request_file)
  run_process(command, env, cwd, log)


def record_artifacts(pipeline_root: str, outputs: Mapping[str, List[Json]]) -> None:
  """Adds a task's output artifacts to the pipeline root's index, for later runs' resolvers."""
  with open(os.path.join(pipeline_root, ARTIFACT_INDEX), 'a', encoding='utf-8') as f:
    for artifacts in outputs.values():
      for artifact in artifacts:
        f.write(json.dumps({**artifact, 'created': time.time()}) + '\n')


def recorded_artifacts(pipeline_root: str) -> List[Json]:
  """Every artifact earlier run-local tasks under this pipeline root output, oldest first."""
  path = os.path.join(pipeline_root, ARTIFACT_INDEX)
  if not os.path.exists(path):
    return []
  with open(path, encoding='utf-8') as f:
    return [json.loads(line) for line in f if line.strip()]


def query_terms(query: str, inputs: Mapping[str, List[Json]]) -> List[tuple]:
  """(field, value) pairs of a resolver filter ('a="x" AND b=LIVE'), with input metadata placeholders filled in."""
  def metadata_of(match: re.Match) -> str:
    artifacts = inputs.get(match.group(1), [])
    return str(artifacts[0]['metadata'].get(match.group(2), '')) if artifacts else ''

  terms = []
  for part in re.split(r'\s+AND\s+', INPUT_METADATA.sub(metadata_of, query.strip())):
    match = QUERY_TERM.match(part)
    if not match:
      raise ValueError(f'unsupported resolver filter term {part!r} in {query!r}')
    terms.append((match.group(1), match.group(2).strip('"')))
  return terms


def matches(artifact: Json, terms: Sequence[tuple]) -> bool:
  """Whether an artifact satisfies every (field, value) of a filter."""
  for field, value in terms:
    if field == 'schema_title':
      found = artifact['type']['schemaTitle']
    elif field == 'state':
      found = 'LIVE'  # run-local never deletes an artifact
    elif field == 'name':
      found = artifact['name']
    elif field.startswith('metadata.') and field.endswith('.number_value'):
      found = artifact['metadata'].get(field[len('metadata.'):-len('.number_value')])
      value, found = float(value), float(found) if isinstance(found, (int, float)) else None
    else:
      raise ValueError(f'unsupported resolver filter field {field!r}')
    if found != value:
      return False
  return True


def resolve(task: Task, inputs: Mapping[str, List[Json]], pipeline_root: str) -> Dict[str, List[Json]]:
  """A resolver task's outputs: for each query, the newest recorded artifact that matches it (or none)."""
  recorded = recorded_artifacts(pipeline_root)
  resolved = {}
  for key, query in task.executor['resolver']['outputArtifactQueries'].items():
    terms = query_terms(query['filter'], inputs)
    found = [a for a in recorded if matches(a, terms)]
    resolved[key] = [{k: v for k, v in found[-1].items() if k != 'created'}] if found else []
  return resolved


def run_task(task: Task, results: Mapping[str, TaskResult], run_root: str, pipeline_root: str, run_id: str,
             python: str, env: Mapping[str, str], image_paths: Mapping[str, str]) -> TaskResult:
  """Runs one task as the launcher would and returns its result (state FAILED with the error logged on failure)."""
  task_root = os.path.join(run_root, task.name)
  os.makedirs(task_root, exist_ok=True)
  log = os.path.join(task_root, 'task.log')
  started = time.monotonic()
  inputs = input_artifacts(task, results)
  if task.kind == 'resolver':
    outputs = resolve(task, inputs, pipeline_root)
  elif task.kind == 'container':
    output_file = os.path.join(task_root, EXECUTOR_OUTPUT)
    planned = planned_outputs(task, task_root, run_id)
    run_container(task, executor_input(task, inputs, planned, output_file, image_paths), python, env, task_root, log)
    outputs = outputs_written(planned, output_file)
    record_artifacts(pipeline_root, outputs)
  else:
    raise ValueError(f'task {task.name}: {task.kind} tasks are not in pipelines this project compiles')
  return TaskResult(task.name, 'COMPLETE', time.monotonic() - started, outputs, log)


def run_pipeline(pipeline: spec_lib.CompiledPipeline, pipeline_root: str, run_id: str, python: str,
                 env: Mapping[str, str], image_paths: Mapping[str, str],
                 report: Optional[Any] = None) -> List[TaskResult]:
  """Runs every task in order; stops at the first failure (later tasks NOT RUN). report(result) after each task."""
  run_root = os.path.join(pipeline_root, 'run-local', run_id)
  results: Dict[str, TaskResult] = {}
  failed = False
  for task in pipeline.tasks:
    if failed:
      result = TaskResult(task.name, 'NOT RUN')
    else:
      started = time.monotonic()
      try:
        result = run_task(task, results, run_root, pipeline_root, run_id, python, env, image_paths)
      except (TaskFailed, ValueError, OSError) as e:
        result = TaskResult(task.name, 'FAILED', time.monotonic() - started, log=str(e))
        failed = True
    results[task.name] = result
    if report:
      report(result)
  return list(results.values())
