"""What changed between two runs: inputs, parameters, outputs, schema, metrics and blessing."""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from pipeline import metadata
from pipeline.evaluation import metric_names
from pipeline.lineage.queries import resolve_run
from pipeline.reporting import run_summary

Artifact = metadata.Artifact
MetricsBySlice = Dict[Tuple[Tuple[str, str], ...], Dict[str, float]]

DATA_PARAMETERS = ('input_base', 'input_fingerprint')
HYPERPARAMETERS = 'Trainer.hyperparameters'  # how the hyperparameters a run's Trainer trained with are named
DIFF_METRICS = metric_names.HEADLINE + tuple(n for n in metric_names.ALL if n not in metric_names.HEADLINE)


@dataclasses.dataclass(frozen=True)
class Change:
  """One thing that differs between run A and run B (None: absent on that side)."""
  what: str
  a: Optional[str]
  b: Optional[str]


@dataclasses.dataclass(frozen=True)
class MetricChange:
  """One metric of one slice that differs between run A and run B."""
  slice: str
  metric: str
  a: Optional[float]
  b: Optional[float]
  delta: Optional[float]


@dataclasses.dataclass(frozen=True)
class RunDiff:
  """What changed between two runs."""
  run_a: str
  run_b: str
  inputs: List[Change]
  parameters: List[Change]
  outputs: List[Change]
  schema: List[Change]
  metrics: List[MetricChange]
  blessing: Optional[Change]


def flatten(prefix: str, value: Any) -> Dict[str, str]:
  """Nested JSON values as dotted keys: {'a': {'b': [1]}} -> {'a.b[0]': '1'}."""
  if isinstance(value, dict):
    return {k: v for key, item in value.items() for k, v in flatten(f'{prefix}.{key}', item).items()}
  if isinstance(value, list):
    return {k: v for i, item in enumerate(value) for k, v in flatten(f'{prefix}[{i}]', item).items()}
  return {prefix: value if isinstance(value, str) else json.dumps(value)}


def parameter_items(parameters: Dict[str, str]) -> Dict[str, str]:
  """Execution parameters with JSON ones (configs, protos) flattened so that a diff names the field."""
  items = {}
  for name, text in parameters.items():
    try:
      value = json.loads(text) if text[:1] in '{[' and text else text
    except json.JSONDecodeError:
      value = text
    items.update(flatten(name, value) if isinstance(value, (dict, list)) else {name: text})
  return items


def changes(a: Dict[str, str], b: Dict[str, str], prefix: str = '') -> List[Change]:
  """Keys whose values differ between two mappings."""
  return [Change(f'{prefix}{key}', a.get(key), b.get(key)) for key in sorted(set(a) | set(b))
          if a.get(key) != b.get(key)]


def artifact_label(artifacts: List[Artifact]) -> str:
  """'Examples 1' (or several, comma-separated) for a list of artifacts."""
  return ', '.join(f'{a.type} {a.id}' for a in sorted(artifacts, key=lambda a: a.id))


def input_changes(a: run_summary.RunSummary, b: run_summary.RunSummary) -> List[Change]:
  """The data read and the artifacts each component took that differ."""
  found = []
  for name in DATA_PARAMETERS:
    found += changes(data_parameters(a, name), data_parameters(b, name))
  for node in node_union(a, b):
    found += changes(keyed_labels(a, node, 'inputs'), keyed_labels(b, node, 'inputs'), f'{node}.')
  return found


def data_parameters(summary: run_summary.RunSummary, name: str) -> Dict[str, str]:
  """{'Node.name': value} for the components of a run that have that parameter."""
  return {f'{c.node_id}.{name}': c.parameters[name] for c in summary.components if name in c.parameters}


def keyed_labels(summary: run_summary.RunSummary, node: str, side: str) -> Dict[str, str]:
  """A component's input or output artifacts by key, as labels."""
  component = summary.component(node)
  return {key: artifact_label(artifacts) for key, artifacts in getattr(component, side).items()} if component else {}


def node_union(a: run_summary.RunSummary, b: run_summary.RunSummary) -> List[str]:
  """Node ids of both runs, in run order."""
  nodes = [c.node_id for c in a.components]
  return nodes + [c.node_id for c in b.components if c.node_id not in nodes]


def parameter_changes(a: run_summary.RunSummary, b: run_summary.RunSummary) -> List[Change]:
  """Component parameters that differ: not the data parameters (inputs), nor TFX's own __entries__."""
  found = []
  for node in node_union(a, b):
    params = [parameter_items(user_parameters(s.component(node).parameters)) if s.component(node) else {}
              for s in (a, b)]
    found += changes(params[0], params[1], f'{node}.')
  return found


def hyperparameter_items(summary: run_summary.RunSummary) -> Dict[str, str]:
  """The hyperparameters a run's Trainer trained with (its record beside the model) as text, by their name in a
  diff (Trainer.hyperparameters.learning_rate), and their source (tuned or the declared defaults)."""
  record = summary.hparams
  if not record:
    return {}
  items = {f'{HYPERPARAMETERS}.{name}': value if isinstance(value, str) else json.dumps(value)
           for name, value in record['hparams'].items()}
  return {**items, f'{HYPERPARAMETERS} (source)': str(record.get('source', ''))}


def hyperparameter_changes(a: run_summary.RunSummary, b: run_summary.RunSummary) -> List[Change]:
  """Hyperparameters, or their source, that differ between the two runs' Trainers."""
  return changes(hyperparameter_items(a), hyperparameter_items(b))


def user_parameters(parameters: Dict[str, str]) -> Dict[str, str]:
  """Parameters without the data ones and without what TFX records itself (__execution_result__ of a failure)."""
  return {k: v for k, v in parameters.items() if k not in DATA_PARAMETERS and not k.startswith('__')}


def output_changes(a: run_summary.RunSummary, b: run_summary.RunSummary) -> List[Change]:
  """Outputs that are different artifacts (components that ran again rather than reuse a result, resolvers that
  found another artifact)."""
  found = []
  for node in node_union(a, b):
    for side in ('outputs', 'resolved'):
      found += changes(keyed_labels(a, node, side), keyed_labels(b, node, side), f'{node}.')
  return found


def schema_artifact(summary: run_summary.RunSummary) -> Optional[Artifact]:
  """The schema a run used."""
  return next((c.outputs['schema'][0] for c in summary.components if c.outputs.get('schema')), None)


def load_schema(artifact: Artifact):
  """The schema proto of a Schema artifact."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top
  return tfdv.load_schema_text(os.path.join(artifact.uri, 'schema.pbtxt'))


def schema_changes(schema_a, schema_b) -> List[Change]:
  """Features and string domains added, removed or changed (naming the changed fields) between two schemas."""
  found = []
  for kind, items_a, items_b in (('feature', schema_a.feature, schema_b.feature),
                                 ('domain', schema_a.string_domain, schema_b.string_domain)):
    by_name_a, by_name_b = {x.name: x for x in items_a}, {x.name: x for x in items_b}
    for name in sorted(set(by_name_a) | set(by_name_b)):
      x, y = by_name_a.get(name), by_name_b.get(name)
      if x is None or y is None:
        found.append(Change(f'{kind} {name}', 'present' if x else None, 'present' if y else None))
      elif x != y:
        fields = [f.name for f in x.DESCRIPTOR.fields if getattr(x, f.name) != getattr(y, f.name)]
        found.append(Change(f'{kind} {name} ({", ".join(fields)})', field_text(x, fields), field_text(y, fields)))
  return found


def field_text(message, fields: List[str]) -> str:
  """The named fields of a proto message on one line."""
  return '; '.join(f'{f}: {" ".join(str(getattr(message, f)).split())}' for f in fields)


def same(x: Optional[float], y: Optional[float]) -> bool:
  """Equal metric values, NaN equal to NaN."""
  if x is None or y is None:
    return x is None and y is None
  return x == y or (math.isnan(x) and math.isnan(y))


def metric_changes(a: MetricsBySlice, b: MetricsBySlice,
                   names: Sequence[str] = DIFF_METRICS) -> List[MetricChange]:
  """Metrics of each slice (overall first) that differ between two runs' evaluations."""
  found = []
  for key in sorted(set(a) | set(b), key=lambda k: (len(k), k)):
    for name in names:
      x, y = a.get(key, {}).get(name), b.get(key, {}).get(name)
      if not same(x, y):
        delta = y - x if x is not None and y is not None else None
        found.append(MetricChange(run_summary.slice_name(key), name, x, y, delta))
  return found


def blessing_text(summary: run_summary.RunSummary) -> Optional[str]:
  """BLESSED, NOT BLESSED or None when the run has no blessing."""
  return None if summary.blessed is None else 'BLESSED' if summary.blessed else 'NOT BLESSED'


def diff_summaries(a: run_summary.RunSummary, b: run_summary.RunSummary, schema: Sequence[Change] = ()) -> RunDiff:
  """Everything that changed from run summary a to b, with the schema changes found by the caller."""
  blessing = (Change('blessing', blessing_text(a), blessing_text(b))
              if blessing_text(a) != blessing_text(b) else None)
  parameters = parameter_changes(a, b) + hyperparameter_changes(a, b)
  return RunDiff(a.run_id, b.run_id, input_changes(a, b), parameters, output_changes(a, b),
                 list(schema), metric_changes(a.metrics, b.metrics), blessing)


def diff_runs(store: metadata.Store, pipeline_name: str, ref_a: str, ref_b: str) -> RunDiff:
  """What changed from run A to run B."""
  a, b = (run_summary.summarize_run(store, resolve_run(store, pipeline_name, ref)) for ref in (ref_a, ref_b))
  return diff_summaries(a, b, run_schema_changes(schema_artifact(a), schema_artifact(b)))


def run_schema_changes(a: Optional[Artifact], b: Optional[Artifact]) -> List[Change]:
  """The changes between two runs' schemas: none when they are one artifact, by feature when both are readable."""
  if a is None or b is None or a.id == b.id:
    return []
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top  (loads TensorFlow: the run report does not)
  if not (fileio.exists(a.uri) and fileio.exists(b.uri)):
    return [Change('schema (files not readable from here)', f'Schema {a.id}', f'Schema {b.id}')]
  return schema_changes(load_schema(a), load_schema(b))
