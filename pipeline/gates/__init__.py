"""The gates: nodes that stop a run before training when its data must not be trained on.

GATE_MODULES lists them, each a module with its node, its GateError subclass and its Gate. The runner (a
backfilled span that a gate stopped is left out of the window), the run summary and the HTML report (which gate
stopped the run), the exit code (2 when a gate stopped it) and the span window (a span trains only once it passed
the gates) ask all_gates() or GateError instead of naming gates one by one. A new gate is a module here, listed
below and added to the DAG (pipeline/dag.py).

This package's own import stays light (the exit codes import GateError before TensorFlow loads): the gate modules
load with all_gates().
"""
from __future__ import annotations

import importlib
from typing import List

from pipeline.gates.base import Gate, GateError  # noqa: F401  (GateError: what every gate raises)

# In the order they run; the inference data gate (pipeline/inference/) checks the rows to score, not training data.
GATE_MODULES = ('pipeline.gates.data', 'pipeline.inference.data_gate', 'pipeline.gates.drift')


def all_gates() -> List[Gate]:
  """Every gate, in the order they run."""
  return [importlib.import_module(name).GATE for name in GATE_MODULES]
