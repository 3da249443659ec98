"""The pushed model of a run, scored as served: its AUC on the held-back rows, the latency of one raw tf.Example
through its serving_default signature and its throughput at batch BATCH, measured side by side with the other models
of its size."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from benchmarks.results import RunResult

LATENCY_CALLS, WARMUP_CALLS = 2000, 50
# The models of one size are measured in alternating rounds, so that a change in the machine's speed (it moved the
# throughput of one model by half between reruns) reaches each of them alike. Throughput: the median round's.
ROUNDS, BATCH, BATCH_CALLS = 5, 256, 200

Servable = Tuple[Callable, bytes, Sequence[bytes]]  # a serving signature, one example, examples for its batches


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


def measure_serving(servables: Sequence[Servable]) -> List[Dict[str, float]]:
  """Each model's p50/p99 latency of one example per call, and examples per second at batch BATCH, measured in
  ROUNDS alternating rounds."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  inputs = [(serve, tf.constant([example]), tf.constant([examples[i % len(examples)] for i in range(BATCH)]))
            for serve, example, examples in servables]
  for serve, one, batch in inputs:
    for _ in range(WARMUP_CALLS):
      serve(examples=one)
      serve(examples=batch)
  latencies: List[List[float]] = [[] for _ in inputs]
  throughputs: List[List[float]] = [[] for _ in inputs]
  for _ in range(ROUNDS):
    for (serve, one, batch), latency, throughput in zip(inputs, latencies, throughputs):
      for _ in range(LATENCY_CALLS // ROUNDS):
        started = time.perf_counter()
        serve(examples=one)
        latency.append((time.perf_counter() - started) * 1000)
      started = time.perf_counter()
      for _ in range(BATCH_CALLS):
        serve(examples=batch)
      throughput.append(BATCH * BATCH_CALLS / (time.perf_counter() - started))
  return [{'p50_ms': percentile(latency, 50), 'p99_ms': percentile(latency, 99),
           'batch_examples_per_s': percentile(throughput, 50)} for latency, throughput in zip(latencies, throughputs)]


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
                       labels: Sequence[int]) -> Optional[Servable]:
  """Fills in a run's holdout AUC from the newest model under serving_dir; returns what measure_serving needs of it
  (None when nothing was pushed or it accepted no held-back row).

  A model that rejects some held-back examples (the template's requires every column its schema saw always
  present) is scored on those it accepts, and the note says how many it rejected.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  model_dir = newest_version(serving_dir)
  if model_dir is None:
    result.note = f'nothing pushed under {serving_dir}'
    return None
  serve, output = load_signature(model_dir)
  try:
    scores = scores_of(serve, output, examples)
  except tf.errors.InvalidArgumentError:
    kept = servable(serve, output, examples)
    result.note = f'its serving signature rejected {len(examples) - len(kept)} of {len(examples)} held-back rows'
    examples, labels = [examples[i] for i in kept], [labels[i] for i in kept]
    scores = scores_of(serve, output, examples) if examples else []
  if not examples:
    return None
  result.auc = float(roc_auc_score(list(labels), scores))
  return serve, examples[0], examples


def measure_pushed_models(scored: Sequence[Tuple[RunResult, Optional[Servable]]]) -> None:
  """Fills in the serving figures of the runs whose models score_pushed_model returned, measured side by side."""
  measured = [(result, model) for result, model in scored if model is not None]
  for (result, _), figures in zip(measured, measure_serving([model for _, model in measured])):
    result.serving = figures
