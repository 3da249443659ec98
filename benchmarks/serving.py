"""The pushed model of a run, scored as served: its AUC on the held-back rows, the latency of one raw tf.Example
through its serving_default signature and its throughput at batch BATCH."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from benchmarks.results import RunResult

LATENCY_CALLS, WARMUP_CALLS = 2000, 50
# Throughput: the median of BATCH_ROUNDS rounds of BATCH_CALLS calls (each round a quarter of a second or so): a
# single round of 40 calls lasted a tenth of a second and moved by half between reruns.
BATCH, BATCH_CALLS, BATCH_ROUNDS = 256, 200, 5


def percentile(values: Sequence[float], q: float) -> float:
  """The q-th percentile (0-100) with linear interpolation between closest ranks, as numpy's default."""
  if not values:
    raise ValueError('percentile of no values')
  ordered = sorted(values)
  rank = (len(ordered) - 1) * q / 100
  low, high = math.floor(rank), math.ceil(rank)
  return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def newest_version(serving_dir: Path) -> Optional[Path]:
  """The newest pushed version under a serving directory (TF Serving layout), if any."""
  versions = [p for p in serving_dir.glob('*') if p.is_dir() and p.name.isdigit()] if serving_dir.exists() else []
  return max(versions, key=lambda p: int(p.name)) if versions else None


def load_signature(model_dir: Path):
  """The serving_default signature of a SavedModel and the name of its (only) output."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  serve = tf.saved_model.load(str(model_dir)).signatures['serving_default']
  return serve, next(iter(serve.structured_outputs))


def measure_serving(serve, example: bytes, batch_examples: Sequence[bytes]) -> Dict[str, float]:
  """p50/p99 latency of one example per call, and examples per second at batch BATCH (the median round's)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  one = tf.constant([example])
  batch = tf.constant([batch_examples[i % len(batch_examples)] for i in range(BATCH)])
  for _ in range(WARMUP_CALLS):
    serve(examples=one)
    serve(examples=batch)
  latencies = []
  for _ in range(LATENCY_CALLS):
    started = time.perf_counter()
    serve(examples=one)
    latencies.append((time.perf_counter() - started) * 1000)
  rounds = []
  for _ in range(BATCH_ROUNDS):
    started = time.perf_counter()
    for _ in range(BATCH_CALLS):
      serve(examples=batch)
    rounds.append(BATCH * BATCH_CALLS / (time.perf_counter() - started))
  return {'p50_ms': percentile(latencies, 50), 'p99_ms': percentile(latencies, 99),
          'batch_examples_per_s': percentile(rounds, 50)}


def scores_of(serve, output: str, examples: Sequence[bytes]) -> List[float]:
  """A model's scores of serialized examples, in one call."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return [float(s) for s in serve(examples=tf.constant(list(examples)))[output].numpy().ravel()]


def servable(serve, output: str, examples: Sequence[bytes]) -> List[int]:
  """Indices of the examples a model scores without error, one call each (for models that reject some)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  ok = []
  for i, example in enumerate(examples):
    try:
      scores_of(serve, output, [example])
      ok.append(i)
    except tf.errors.InvalidArgumentError:
      pass
  return ok


def score_pushed_model(result: RunResult, serving_dir: Path, examples: Sequence[bytes],
                       labels: Sequence[int]) -> None:
  """Fills in a run's holdout AUC and serving figures from the newest model under serving_dir.

  A model that rejects some held-back examples (the template's requires every column its schema saw always
  present) is scored on those it accepts, and the note says how many it rejected.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  model_dir = newest_version(serving_dir)
  if model_dir is None:
    result.note = f'nothing pushed under {serving_dir}'
    return
  serve, output = load_signature(model_dir)
  try:
    scores = scores_of(serve, output, examples)
  except tf.errors.InvalidArgumentError:
    kept = servable(serve, output, examples)
    result.note = f'its serving signature rejected {len(examples) - len(kept)} of {len(examples)} held-back rows'
    examples, labels = [examples[i] for i in kept], [labels[i] for i in kept]
    scores = scores_of(serve, output, examples) if examples else []
  if examples:
    result.auc = float(roc_auc_score(list(labels), scores))
    result.serving = measure_serving(serve, examples[0], examples)
