"""Reading a compiled pipeline: a bare KFP v2 PipelineSpec (YAML, the kfp target) or a Vertex AI PipelineJob (JSON,
the vertex target), as the tasks the KFP v2 launcher would run, in dependency order."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Mapping, Set

import yaml

Json = Dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Task:
  """One task of the pipeline's root DAG, with what the launcher needs to run it."""
  name: str
  inputs: Json  # the task's inputs: parameters and artifacts, as the spec wires them
  component: Json  # its component: input and output definitions
  executor: Json  # its executor: container (command, args, lifecycle), importer or resolver
  upstream: Set[str]

  @property
  def kind(self) -> str:
    """container, importer or resolver."""
    return next(iter(self.executor))


@dataclasses.dataclass(frozen=True)
class CompiledPipeline:
  """A compiled spec: its name, its default pipeline root, and its tasks in an order that respects dependencies."""
  name: str
  default_root: str
  tasks: List[Task]


def read_spec(path: str) -> CompiledPipeline:
  """The pipeline in a compiled file; ValueError naming the file when it is neither kind."""
  with open(path, encoding='utf-8') as f:
    text = f.read()
  document = json.loads(text) if text.lstrip().startswith('{') else yaml.safe_load(text)
  if not isinstance(document, dict):
    raise ValueError(f'{path}: not a compiled pipeline (expected a KFP PipelineSpec or a Vertex PipelineJob)')
  if 'pipelineSpec' in document:  # a Vertex PipelineJob
    spec = document['pipelineSpec']
    default_root = document.get('runtimeConfig', {}).get('gcsOutputDirectory', '')
  else:
    spec = document
    default_root = spec.get('defaultPipelineRoot', '')
  if 'root' not in spec or 'deploymentSpec' not in spec:
    raise ValueError(f'{path}: not a compiled pipeline (no root DAG or deployment spec)')
  return CompiledPipeline(spec['pipelineInfo']['name'], default_root, ordered_tasks(spec))


def upstream_of(task: Json) -> Set[str]:
  """The tasks a task waits for: its dependencies and the producers of its input artifacts."""
  producers = {wiring['taskOutputArtifact']['producerTask']
               for wiring in task.get('inputs', {}).get('artifacts', {}).values() if 'taskOutputArtifact' in wiring}
  return set(task.get('dependentTasks', [])) | producers


def ordered_tasks(spec: Json) -> List[Task]:
  """The root DAG's tasks, each after its upstream tasks (ties by name); ValueError on a cycle."""
  dag = spec['root']['dag']['tasks']
  executors = spec['deploymentSpec']['executors']
  tasks = {}
  for name, task in dag.items():
    component = spec['components'][task['componentRef']['name']]
    tasks[name] = Task(name, task.get('inputs', {}), component, executors[component['executorLabel']],
                       upstream_of(task))
  ordered: List[Task] = []
  done: Set[str] = set()
  while len(ordered) < len(tasks):
    ready = sorted(n for n, t in tasks.items() if n not in done and t.upstream <= done)
    if not ready:
      raise ValueError(f'the tasks {sorted(set(tasks) - done)} depend on each other')
    ordered += [tasks[n] for n in ready]
    done.update(ready)
  return ordered


def constant(value: Json) -> Any:
  """A parameter's constant from the spec (runtimeValue.constant, or the older constantValue)."""
  runtime = value.get('runtimeValue', {})
  if 'constant' in runtime:
    return runtime['constant']
  old = runtime.get('constantValue', {})
  for kind, cast in (('stringValue', str), ('intValue', int), ('doubleValue', float)):
    if kind in old:
      return cast(old[kind])
  raise ValueError(f'unsupported parameter value {value}: only constants are compiled into this pipeline')


def parameter_values(task: Task) -> Dict[str, Any]:
  """The task's parameters by name, as constants."""
  return {name: constant(value) for name, value in task.inputs.get('parameters', {}).items()}


def schema_title(definition: Json) -> str:
  """The artifact type of an input or output definition (tfx.Examples, ...)."""
  artifact_type = definition['artifactType']
  if 'schemaTitle' in artifact_type:
    return artifact_type['schemaTitle']
  return yaml.safe_load(artifact_type['instanceSchema'])['title']


def output_types(task: Task) -> Dict[str, str]:
  """The task's output artifacts: key -> artifact type."""
  outputs = task.component.get('outputDefinitions', {}).get('artifacts', {})
  return {key: schema_title(definition) for key, definition in outputs.items()}


def map_image_paths(value: Any, image_paths: Mapping[str, str]) -> Any:
  """A parameter that is a path existing only in the image (under a key of image_paths) put where it is here."""
  if isinstance(value, str):
    for image_path, local_path in image_paths.items():
      if value.startswith(image_path):
        return os.path.join(local_path, value[len(image_path):])
  return value
