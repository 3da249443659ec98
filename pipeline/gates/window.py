"""The rolling window of spans a model trains on, resolved from ML Metadata.

Training on the last N spans takes the N newest spans that ExampleGen ingested and that passed the gates
(pipeline/gates/__init__.py): a span stopped as bad data never reaches a model, even as an older member of a later
window.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common.resolver import ResolverStrategy

from pipeline import metadata
from pipeline.gates import all_gates
from pipeline.ingest.spans import span_numbers, window_spans

EXAMPLE_GEN = 'CsvExampleGen'
Artifact = metadata.Artifact


def passed_gates(store: metadata.Store, examples_id: int) -> bool:
  """Whether an ingested span passed every gate that checked it, and was checked by every gate that always runs.

  Each gate checks something made from the examples (pipeline/gates/__init__.py lists what): the data gate the
  anomalies (examples -> StatisticsGen -> statistics -> ExampleValidator -> anomalies), the drift gate the
  statistics, as its `statistics` (not as the served model's `served_statistics`).
  """
  gates = all_gates()
  _, derived = metadata.downstream(store, examples_id, follow={gate.checks_type for gate in gates})
  for gate in gates:
    checked = [a.id for a in derived if a.type == gate.checks_type]
    runs = [e for e in (metadata.users(store, checked, gate.checks_key) if checked else [])
            if metadata.placement(store, e.id)[0] == gate.node_id]
    if not any(e.last_known_state in metadata.PASSED for e in runs) and (runs or gate.required):
      return False
  return True


def trainable_examples(store: metadata.Store,
                       examples: List[Artifact]) -> Dict[int, Artifact]:
  """The newest version of each span that passed the gates, by span number."""
  newest: Dict[int, Artifact] = {}
  for artifact in sorted(examples, key=lambda a: (metadata.int_property(a, 'version') or 0, a.id)):
    if artifact.state == Artifact.LIVE and passed_gates(store, artifact.id):
      newest[metadata.int_property(artifact, 'span') or 0] = artifact
  return newest


def ingested_spans(store: metadata.Store, pipeline_name: str) -> List[int]:
  """The span numbers this pipeline's ExampleGen ingested, whether or not the gates passed them, ascending."""
  ingested = metadata.node_artifacts(store, pipeline_name, EXAMPLE_GEN)
  return sorted({metadata.int_property(a, 'span') or 0 for a in ingested
                 if a.type == 'Examples' and a.state == Artifact.LIVE})


class SpanWindow(ResolverStrategy):
  """Resolves the examples of the newest `window` spans that passed the gates, oldest first."""

  def __init__(self, window: int = 1):
    self._window = window

  def resolve_artifacts(self, store: metadata.Store,
                        input_dict: Dict[str, List[types.Artifact]]) -> Optional[Dict[str, List[types.Artifact]]]:
    resolved = {}
    for key, artifacts in input_dict.items():
      by_id = {a.id: a for a in artifacts}
      newest = trainable_examples(store, [a.mlmd_artifact for a in artifacts])
      resolved[key] = [by_id[newest[span].id] for span in window_spans(newest, self._window)]
    return resolved


def spans_to_backfill(store: metadata.Store, pipeline_name: str, data_root: str, window: int) -> List[int]:
  """The older spans of the window over a data root's span folders that were never ingested.

  The newest span is left out: the run itself ingests it. A span ingested but stopped by a gate is not ingested
  again: the window resolver leaves it out.
  """
  older = window_spans(span_numbers(data_root), window)[:-1]
  if not older:
    return []
  have = set(ingested_spans(store, pipeline_name))
  return [span for span in older if span not in have]
