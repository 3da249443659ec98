"""The rolling window of spans a model trains on, resolved from ML Metadata.

Training on the last N spans takes the N newest spans that ExampleGen ingested and that passed the data gate
(and the drift gate, when one checked them): a span stopped as bad data never reaches a model, even as an older
member of a later window.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

from pipeline.drift import consumer_outputs
from pipeline.report import int_property
from pipeline.spans import span_numbers, window_spans

EXAMPLE_GEN = 'CsvExampleGen'
DRIFT_GATE = 'DriftGate'
PASSED = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
Event = metadata_store_pb2.Event


def consumers(store: mlmd.MetadataStore, artifact_ids: List[int], input_key: str) -> List[metadata_store_pb2.Execution]:
  """The executions that took any of the artifacts as their input `input_key`."""
  ids = sorted({e.execution_id for e in store.get_events_by_artifact_ids(artifact_ids)
                if e.type == Event.INPUT and e.path.steps and e.path.steps[0].key == input_key})
  return store.get_executions_by_id(ids) if ids else []


def node_of(store: mlmd.MetadataStore, execution: metadata_store_pb2.Execution) -> str:
  """The pipeline node id of an execution (its node context's name after the pipeline name)."""
  return next((c.name.split('.', 1)[-1] for c in store.get_contexts_by_execution(execution.id) if c.type == 'node'),
              '')


def passed_gates(store: mlmd.MetadataStore, examples_id: int) -> bool:
  """Whether an ingested span passed the data gate, and a drift gate when one checked it.

  Lineage: examples -> StatisticsGen -> statistics -> ExampleValidator -> anomalies -> DataGate, and
  statistics -> DriftGate (as its `statistics`, not as the served model's `served_statistics`).
  """
  statistics = consumer_outputs(store, examples_id, 'ExampleStatistics')
  anomalies = [a for s in statistics for a in consumer_outputs(store, s, 'ExampleAnomalies')]
  data_gates = consumers(store, anomalies, 'anomalies') if anomalies else []
  checks = consumers(store, statistics, 'statistics') if statistics else []
  drift_gates = [e for e in checks if node_of(store, e) == DRIFT_GATE]
  if not any(e.last_known_state in PASSED for e in data_gates):
    return False
  return not drift_gates or any(e.last_known_state in PASSED for e in drift_gates)


def trainable_examples(store: mlmd.MetadataStore,
                       examples: List[metadata_store_pb2.Artifact]) -> Dict[int, metadata_store_pb2.Artifact]:
  """The newest version of each span that passed the gates, by span number."""
  newest: Dict[int, metadata_store_pb2.Artifact] = {}
  for artifact in sorted(examples, key=lambda a: (int_property(a, 'version') or 0, a.id)):
    if artifact.state == metadata_store_pb2.Artifact.LIVE and passed_gates(store, artifact.id):
      newest[int_property(artifact, 'span') or 0] = artifact
  return newest


def ingested_spans(store: mlmd.MetadataStore, pipeline_name: str) -> List[int]:
  """The span numbers this pipeline's ExampleGen ingested, whether or not the gates passed them, ascending."""
  node = store.get_context_by_type_and_name('node', f'{pipeline_name}.{EXAMPLE_GEN}')
  if node is None:
    return []
  return sorted({int_property(a, 'span') or 0 for a in store.get_artifacts_by_context(node.id)
                 if a.type == 'Examples' and a.state == metadata_store_pb2.Artifact.LIVE})


class SpanWindow(resolver.ResolverStrategy):
  """Resolves the examples of the newest `window` spans that passed the gates, oldest first."""

  def __init__(self, window: int = 1):
    self._window = window

  def resolve_artifacts(self, store: mlmd.MetadataStore,
                        input_dict: Dict[str, List[types.Artifact]]) -> Optional[Dict[str, List[types.Artifact]]]:
    resolved = {}
    for key, artifacts in input_dict.items():
      by_id = {a.id: a for a in artifacts}
      newest = trainable_examples(store, [a.mlmd_artifact for a in artifacts])
      resolved[key] = [by_id[newest[span].id] for span in window_spans(newest, self._window)]
    return resolved


def spans_to_backfill(store: mlmd.MetadataStore, pipeline_name: str, data_root: str, window: int) -> List[int]:
  """The older spans of the window over a data root's span folders that were never ingested.

  The newest span is left out: the run itself ingests it. A span ingested but stopped by a gate is not ingested
  again: the window resolver leaves it out.
  """
  older = window_spans(span_numbers(data_root), window)[:-1]
  if not older:
    return []
  have = set(ingested_spans(store, pipeline_name))
  return [span for span in older if span not in have]
