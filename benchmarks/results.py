"""What the benchmark records: the two pipelines it times, the sizes it runs them at (multiples of the shipped
sample) and, per run, what was measured of the run and of its pushed model."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

from benchmarks.measure import Measured

SAMPLE_ROWS = 15_002  # rows of the shipped sample: size 1.
OURS, TEMPLATE = 'ours', 'template'


@dataclasses.dataclass
class RunResult:
  """One timed pipeline run and what was measured on its pushed model."""
  pipeline: str  # OURS or TEMPLATE.
  size: float
  rows: int
  measured: Measured
  components: Dict[str, float] = dataclasses.field(default_factory=dict)  # node id -> seconds (MLMD).
  states: Dict[str, str] = dataclasses.field(default_factory=dict)  # node id -> COMPLETE, CACHED, ...
  peak_component: str = ''  # the node running when memory peaked; '' outside every node.
  auc: Optional[float] = None
  serving: Dict[str, float] = dataclasses.field(default_factory=dict)  # p50_ms, p99_ms, batch_examples_per_s.
  note: str = ''


def rows_for_size(size: float) -> int:
  """Rows of data for a size: a multiple of the shipped sample's row count."""
  return max(1, round(size * SAMPLE_ROWS))


def parse_sizes(text: str) -> List[float]:
  """'1,10,0.1' -> [1.0, 10.0, 0.1]; every size positive."""
  sizes = [float(part) for part in text.split(',') if part.strip()]
  if not sizes or any(s <= 0 for s in sizes):
    raise ValueError(f'sizes must be positive numbers separated by commas, got {text!r}')
  return sizes


def cached_size(sizes: Sequence[float]) -> float:
  """The size whose output root gets the reruns with nothing changed: 1 when it is benchmarked, else the smallest."""
  return 1.0 if 1.0 in sizes else min(sizes)


def size_label(size: float) -> str:
  """1.0 -> '1x', 0.1 -> '0.1x'."""
  return f'{size:g}x'


def find_result(results: Sequence[RunResult], pipeline: str, size: float) -> Optional[RunResult]:
  """The cold run of one pipeline at one size."""
  return next((r for r in results if r.pipeline == pipeline and r.size == size), None)


def describe(result: RunResult) -> str:
  """One progress line."""
  text = (f'{result.pipeline} {size_label(result.size)}: {result.measured.seconds:.1f} s, '
          f'peak {result.measured.peak_rss_bytes / 2**20:,.0f} MB ({result.peak_component or "no component"}), '
          f'exit {result.measured.returncode}')
  if result.auc is not None:
    text += f', holdout AUC {result.auc:.4f}'
  return text + (f' ({result.note})' if result.note else '') + f'; log: {result.measured.log}'
