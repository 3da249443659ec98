"""What every gate shares: the error that stops a run before training, the facts the rest of the project needs
about a gate, and the table of anomalies a gate reports.

A gate is a pipeline node that fails its execution, before the Trainer, when the data must not be trained on.
pipeline/gates/__init__.py lists the gates; the runner, the summary, the HTML report, the exit code and the span
window ask that list instead of naming gates one by one.
"""
from __future__ import annotations

import dataclasses
from typing import List


class GateError(RuntimeError):
  """A gate stopped the run before training; the message says why. Subclasses name their gate."""
  gate_name = 'gate'


class DataValidationError(GateError):
  """The data gate found anomalies; the message is a table of them. Here, beside GateError, so that what reports a
  run (pipeline/reporting/) can name it without loading the gate's TFX and TensorFlow."""
  gate_name = 'data gate'


@dataclasses.dataclass(frozen=True)
class Gate:
  """A gate as the rest of the project sees it.

  node_id: the gate's node in the DAG. checks: the input key under which it takes what it checks, and that
  artifact's type (what the span window follows from a span's examples to the gate). required: whether every run
  has this gate, so that a span it never checked has not passed it.
  """
  node_id: str
  error: type
  checks_key: str
  checks_type: str
  required: bool


@dataclasses.dataclass(frozen=True)
class Anomaly:
  """One row of a gate's table."""
  split: str
  feature: str
  anomaly: str
  description: str


def format_table(anomalies: List[Anomaly]) -> str:
  """A plain-text table with one line per anomaly."""
  header = Anomaly('split', 'feature', 'anomaly', 'description')
  rows = [header] + anomalies
  widths = [max(len(getattr(r, f.name)) for r in rows) for f in dataclasses.fields(Anomaly)][:3]
  lines = []
  for row in rows:
    cells = [row.split.ljust(widths[0]), row.feature.ljust(widths[1]), row.anomaly.ljust(widths[2]),
             row.description]
    lines.append('  '.join(cells))
  return '\n'.join(lines)
