"""Times this pipeline against the TFX taxi template on the same data, and prints (or writes) the result table.

For each size (a multiple of the shipped sample's 15,002 rows; 1 is the sample itself, less the rows held back
for the AUC): a cold run of local_runner.py and of the template copied from the installed tfx package, each as a
child process, measuring wall time, the peak resident memory of the whole process tree and, from each run's ML
Metadata, every component's time. Then a fully cached rerun of ours, the serving latency and throughput of each
pushed model, and its AUC on sample rows that no run saw (the fifth of the sample that tests/test_quality.py holds
back too; the data of every size is made from the other four fifths).

  python -m benchmarks.run [--sizes 1,10,100] [--skip-template] [--work-dir DIR] [--write-results]
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import psutil

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from benchmarks import generate  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_FILE = REPO_ROOT / 'benchmarks' / 'RESULTS.md'
SAMPLE_ROWS = 15_002  # rows of the shipped sample: size 1.
HOLDOUT_BUCKETS = 5  # one sample row in five is held back, as in tests/test_quality.py.
OURS, TEMPLATE = 'ours', 'template'
TEMPLATE_NAME = 'taxi-template'
THROUGHPUT_COMPONENTS = ('CsvExampleGen', 'StatisticsGen', 'Transform')
POLL_SECONDS = 0.2
LATENCY_CALLS, WARMUP_CALLS = 2000, 50
BATCH, BATCH_CALLS = 256, 40
DEFAULT_BEAM_WORKERS = 1

Table = Tuple[List[str], List[List[str]]]  # header, rows of cells.


@dataclasses.dataclass(frozen=True)
class Measured:
  """What one child process took."""
  seconds: float
  peak_rss_bytes: int
  returncode: int
  log: Path
  peak_at: float = 0.0  # when the peak was seen: seconds since the epoch.


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


# Pure helpers.

def percentile(values: Sequence[float], q: float) -> float:
  """The q-th percentile (0-100) with linear interpolation between closest ranks, as numpy's default."""
  if not values:
    raise ValueError('percentile of no values')
  ordered = sorted(values)
  rank = (len(ordered) - 1) * q / 100
  low, high = math.floor(rank), math.ceil(rank)
  return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(ours: Optional[float], template: Optional[float]) -> Optional[float]:
  """ours / template, or None when either is missing or the template's is not positive."""
  if ours is None or template is None or template <= 0:
    return None
  return ours / template


def rows_per_second(rows: int, seconds: Optional[float]) -> Optional[float]:
  """Throughput, or None without a positive duration."""
  return rows / seconds if seconds and seconds > 0 else None


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
  """The size whose output root gets the fully cached rerun: 1 when it is benchmarked, else the smallest."""
  return 1.0 if 1.0 in sizes else min(sizes)


def size_label(size: float) -> str:
  """1.0 -> '1x', 0.1 -> '0.1x'."""
  return f'{size:g}x'


def is_holdout(row: Sequence[str]) -> bool:
  """Whether a sample row is held back from every run: deterministic by content (tests/test_quality.py's rule)."""
  return zlib.crc32(','.join(row).encode()) % HOLDOUT_BUCKETS == 0


def split_holdout(rows: Sequence[List[str]]) -> Tuple[List[List[str]], List[List[str]]]:
  """(rows the pipelines may see, held-back rows)."""
  kept, held = [], []
  for row in rows:
    (held if is_holdout(row) else kept).append(row)
  return kept, held


def fmt(value: Optional[float], digits: int = 1) -> str:
  """A number for the table; '-' when missing."""
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return '-'
  return f'{value:,.{digits}f}'


def fmt_ratio(value: Optional[float]) -> str:
  """A ratio as '0.42x'; '-' when missing."""
  return '-' if value is None else f'{value:.2f}x'


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  """A Markdown table, padded so that it also reads well in a terminal; the first column left-aligned."""
  widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

  def line(cells: Sequence[str]) -> str:
    padded = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
    return '| ' + ' | '.join(padded) + ' |'

  rule = '|' + '|'.join(('-' * (w + 1) + ':') if i else (':' + '-' * (w + 1)) for i, w in enumerate(widths)) + '|'
  return '\n'.join([line(header), rule] + [line(r) for r in rows])


def ordered_components(results: Sequence[RunResult]) -> List[str]:
  """Node ids in order of first appearance over the results."""
  names: List[str] = []
  for result in results:
    names += [n for n in result.components if n not in names]
  return names


def component_at(spans: Dict[str, Tuple[float, float]], moment: float) -> str:
  """The node that was running at a moment (node -> start, end; seconds since the epoch), the latest to start."""
  running = [node for node, (start, end) in spans.items() if start <= moment <= end]
  return max(running, key=lambda node: spans[node][0], default='')


def find_result(results: Sequence[RunResult], pipeline: str, size: float) -> Optional[RunResult]:
  """The cold run of one pipeline at one size."""
  return next((r for r in results if r.pipeline == pipeline and r.size == size), None)


def cold_run_table(results: Sequence[RunResult], sizes: Sequence[float]) -> Table:
  """Component rows x (ours, template, ratio) per size, then wall time, peak memory, throughputs and AUC."""
  header = ['']
  columns: List[Tuple[Optional[RunResult], Optional[RunResult]]] = []
  for size in sizes:
    ours, template = find_result(results, OURS, size), find_result(results, TEMPLATE, size)
    columns.append((ours, template))
    header += [f'ours {size_label(size)}'] + ([f'template {size_label(size)}', 'ratio'] if template else [])

  def row(label: str, value, digits: int = 1, with_ratio: bool = True) -> List[str]:
    cells = [label]
    for ours, template in columns:
      a, b = (value(ours) if ours else None), (value(template) if template else None)
      cells.append(fmt(a, digits))
      if template:
        cells += [fmt(b, digits), fmt_ratio(ratio(a, b)) if with_ratio else '']
    return cells

  def text_row(label: str, text) -> List[str]:
    cells = [label]
    for ours, template in columns:
      cells += [text(ours) if ours else '-'] + ([text(template), ''] if template else [])
    return cells

  rows = [row(f'{name} (s)', lambda r, n=name: r.components.get(n)) for name in ordered_components(results)]
  rows.append(row('**wall clock (s)**', lambda r: r.measured.seconds))
  rows.append(row('peak memory (MB)', lambda r: r.measured.peak_rss_bytes / 2**20, 0))
  rows.append(text_row('peak memory during', lambda r: r.peak_component or 'no component'))
  rows.append(row('rows', lambda r: r.rows, 0, with_ratio=False))
  for name in THROUGHPUT_COMPONENTS:
    rows.append(row(f'{name} rows/s', lambda r, n=name: rows_per_second(r.rows, r.components.get(n)), 0))
  rows.append(row('holdout AUC', lambda r: r.auc, 4, with_ratio=False))
  rows.append(row('exit code', lambda r: r.measured.returncode, 0, with_ratio=False))
  return header, rows


def serving_table(results: Sequence[RunResult]) -> Table:
  """Serving latency of one raw example and batch throughput, per run that pushed a model."""
  header = ['pushed model', 'p50 ms (1 example)', 'p99 ms (1 example)', f'examples/s (batch {BATCH})']
  rows = [[f'{r.pipeline} {size_label(r.size)}', fmt(r.serving.get('p50_ms'), 2), fmt(r.serving.get('p99_ms'), 2),
           fmt(r.serving.get('batch_examples_per_s'), 0)] for r in results if r.serving]
  return header, rows


def ran_again(result: RunResult) -> List[str]:
  """Components of a rerun that executed instead of coming from the cache, with their seconds (resolvers aside)."""
  return [f'{name} {result.components.get(name, 0):.1f} s' for name, state in result.states.items()
          if state != 'CACHED' and not name.endswith('resolver')]


def cached_table(result: RunResult) -> Table:
  """The fully cached rerun: wall time, how many components came from the cache, and which did not."""
  cached = sum(1 for s in result.states.values() if s == 'CACHED')
  return (['fully cached rerun', 'wall clock (s)', 'components cached', 'ran again', 'peak memory (MB)', 'exit code'],
          [[f'ours {size_label(result.size)}', fmt(result.measured.seconds), f'{cached} of {len(result.states)}',
            ', '.join(ran_again(result)) or 'none', fmt(result.measured.peak_rss_bytes / 2**20, 0),
            str(result.measured.returncode)]])


# Template set-up.

def uncomment_appends(source: str) -> str:
  """Enables every `# components.append(x)` line of the template's pipeline.py."""
  return re.sub(r'^(\s*)# (components\.append\(\w+\))$', r'\1\2', source, flags=re.MULTILINE)


def validator_for_every_schema(source: str) -> str:
  """Moves the template's ExampleValidator out of its ImportSchemaGen-only branch, so it runs after SchemaGen too."""
  block = re.search(r'^    # Performs anomaly detection.*?^    components\.append\(example_validator\)\n',
                    source, flags=re.MULTILINE | re.DOTALL)
  if block is None:
    raise RuntimeError('the template\'s ExampleValidator block was not found: has the template changed?')
  dedented = re.sub(r'^  ', '', block.group(0), flags=re.MULTILINE)
  return source[:block.start()] + dedented + source[block.end():]


def point_runner_at(source: str, data_dir: Path, output_dir: Path) -> str:
  """The template's local_runner.py reading data_dir and writing under output_dir (both absolute)."""
  patched, outputs = re.subn(r"^OUTPUT_DIR = '\.'$", f'OUTPUT_DIR = {str(output_dir)!r}', source, flags=re.MULTILINE)
  patched, data = re.subn(r'^DATA_PATH = .*$', f'DATA_PATH = {str(data_dir)!r}', patched, flags=re.MULTILINE)
  if (outputs, data) != (1, 1):
    raise RuntimeError('OUTPUT_DIR or DATA_PATH not found in the template\'s local_runner.py')
  return patched


def enable_every_step(pipeline_source: str) -> str:
  """The template's pipeline.py with every component in the pipeline."""
  patched = validator_for_every_schema(uncomment_appends(pipeline_source))
  missing = [c for c in ('statistics_gen', 'schema_gen', 'example_validator', 'transform', 'trainer',
                         'model_resolver', 'evaluator', 'pusher')
             if not re.search(rf'^\s*components\.append\({c}\)$', patched, flags=re.MULTILINE)]
  if missing:
    raise RuntimeError(f'could not enable {", ".join(missing)} in the template\'s pipeline.py')
  return patched


def venv_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
  """The environment for child processes: this interpreter's bin first on PATH, quiet TensorFlow."""
  env = dict(os.environ)
  env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{env.get("PATH", "")}'
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  env.pop('PYTHONPATH', None)
  env.update(extra or {})
  return env


def copy_template(destination: Path) -> Path:
  """`tfx template copy --model=taxi` into destination, with the venv's tfx CLI."""
  tfx_cli = Path(sys.executable).parent / 'tfx'
  subprocess.run([str(tfx_cli), 'template', 'copy', '--model=taxi', f'--pipeline_name={TEMPLATE_NAME}',
                  f'--destination_path={destination}'], check=True, capture_output=True, text=True,
                 env=venv_env(), cwd=destination.parent)
  return destination


def set_up_template(template_dir: Path, data_dir: Path, output_dir: Path) -> None:
  """Enables every step of a copied template and points it at data_dir and output_dir."""
  pipeline_py = template_dir / 'pipeline' / 'pipeline.py'
  runner_py = template_dir / 'local_runner.py'
  pipeline_py.write_text(enable_every_step(pipeline_py.read_text()))
  runner_py.write_text(point_runner_at(runner_py.read_text(), data_dir, output_dir))


def template_metadata(output_dir: Path) -> Path:
  """Where the template's local_runner.py keeps its ML Metadata under its OUTPUT_DIR."""
  return output_dir / 'tfx_metadata' / TEMPLATE_NAME / 'metadata.db'


def template_serving_dir(output_dir: Path) -> Path:
  """Where the template's Pusher puts models under its OUTPUT_DIR."""
  return output_dir / 'tfx_pipeline_output' / TEMPLATE_NAME / 'serving_model'


# Measuring processes.

def tree_rss(process: psutil.Process) -> int:
  """Resident memory of a process and all its descendants, in bytes (shared pages counted in each)."""
  total = 0
  for p in [process] + process.children(recursive=True):
    try:
      total += p.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
      pass
  return total


def run_measured(command: Sequence[str], cwd: Path, env: Dict[str, str], log: Path) -> Measured:
  """Runs a command to its end with output to log; wall time and peak RSS of its process tree."""
  log.parent.mkdir(parents=True, exist_ok=True)
  with open(log, 'w') as out:
    started = time.monotonic()
    child = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    process, peak, peak_at = psutil.Process(child.pid), 0, 0.0
    while child.poll() is None:
      try:
        rss = tree_rss(process)
      except psutil.NoSuchProcess:
        rss = 0
      if rss > peak:
        peak, peak_at = rss, time.time()
      time.sleep(POLL_SECONDS)
    return Measured(time.monotonic() - started, peak, child.returncode, log, peak_at)


NodeTimes = Tuple[Dict[str, float], Dict[str, str], Dict[str, Tuple[float, float]]]  # seconds, state, start/end.


def component_times(metadata_db: Path, pipeline_name: str) -> NodeTimes:
  """Seconds, state, start and end (epoch seconds) of every node of the newest run in a SQLite MLMD store."""
  if not metadata_db.exists():
    return {}, {}, {}
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from pipeline import config as config_lib, report  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(config_lib.sqlite_metadata(str(metadata_db)))
  context = report.latest_run_context(store, pipeline_name)
  runs = report.component_runs(store, context.id) if context else []
  return ({r.node_id: r.seconds for r in runs}, {r.node_id: r.state for r in runs},
          {r.node_id: (r.started_ms / 1000, r.ended_ms / 1000) for r in runs})


def newest_version(serving_dir: Path) -> Optional[Path]:
  """The newest pushed version under a serving directory (TF Serving layout), if any."""
  versions = [p for p in serving_dir.glob('*') if p.is_dir() and p.name.isdigit()] if serving_dir.exists() else []
  return max(versions, key=lambda p: int(p.name)) if versions else None


# Serving.

def to_tf_example(header: Sequence[str], row: Sequence[str], drop: Sequence[str] = ('tips',)) -> bytes:
  """A serialized raw tf.Example of a CSV row typed as preprocessing/features.py declares; empty cells absent."""
  import models  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import  (the project's Keras choice)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from preprocessing import features  # pylint: disable=g-import-not-at-top
  feature = {}
  for name, cell in zip(header, row):
    if cell == '' or name in drop:
      continue
    raw_type = features.feature(name).raw_type
    if raw_type == features.RawType.STRING:
      feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[cell.encode()]))
    elif raw_type == features.RawType.INT:
      feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(cell))]))
    else:
      feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(cell)]))
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def big_tipper(header: Sequence[str], row: Sequence[str]) -> int:
  """The label of a CSV row: tip above 20 % of the fare."""
  values = dict(zip(header, row))
  return int(values['fare'] != '' and float(values['tips'] or 0) > 0.2 * float(values['fare']))


def load_signature(model_dir: Path):
  """The serving_default signature of a SavedModel and the name of its (only) output."""
  import models  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import  (the project's Keras choice)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  serve = tf.saved_model.load(str(model_dir)).signatures['serving_default']
  return serve, next(iter(serve.structured_outputs))


def measure_serving(serve, example: bytes, batch_examples: Sequence[bytes]) -> Dict[str, float]:
  """p50/p99 latency of one example per call, and examples per second at batch BATCH."""
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
  started = time.perf_counter()
  for _ in range(BATCH_CALLS):
    serve(examples=batch)
  throughput = BATCH * BATCH_CALLS / (time.perf_counter() - started)
  return {'p50_ms': percentile(latencies, 50), 'p99_ms': percentile(latencies, 99),
          'batch_examples_per_s': throughput}


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


# Runs.

def prepare_data(size: float, work_dir: Path, header: List[str], kept: List[List[str]], seed: int) -> Tuple[Path, int]:
  """The data directory of a size and its row count: the kept sample rows for 1, generated rows otherwise."""
  data_dir = work_dir / f'data-{size_label(size)}'
  if data_dir.exists():
    shutil.rmtree(data_dir)
  if size == 1:
    generate.write_table(data_dir / generate.SAMPLE_FILE, header, kept)
    return data_dir, len(kept)
  rows = rows_for_size(size)
  generate.generate(rows, data_dir, seed=seed, source=(header, kept))
  return data_dir, rows


def ours_command(data_dir: Path, output_root: Path, cache: bool, beam_workers: int) -> List[str]:
  """The local_runner.py command line of a run of ours."""
  command = [sys.executable, 'local_runner.py', '--data-root', str(data_dir), '--output-root', str(output_root)]
  command += [] if cache else ['--no-cache']
  return command + (['--beam-workers', str(beam_workers)] if beam_workers > 1 else [])


def run_ours(size: float, rows: int, data_dir: Path, output_root: Path, cache: bool,
             beam_workers: int) -> RunResult:
  """One run of local_runner.py, measured, with its component times from its MLMD."""
  from pipeline import config as config_lib  # pylint: disable=g-import-not-at-top
  log = output_root.parent / f'{output_root.name}-{"cached" if cache else "cold"}.log'
  measured = run_measured(ours_command(data_dir, output_root, cache, beam_workers), REPO_ROOT, venv_env(), log)
  components, states, spans = component_times(output_root / config_lib.METADATA_FILE, config_lib.PIPELINE_NAME)
  return RunResult(OURS, size, rows, measured, components, states, component_at(spans, measured.peak_at))


def run_template(size: float, rows: int, data_dir: Path, work_dir: Path) -> RunResult:
  """One cold run of the TFX taxi template with every step enabled, measured."""
  template_dir = work_dir / f'template-{size_label(size)}'
  shutil.rmtree(template_dir, ignore_errors=True)
  copy_template(template_dir)
  output_dir = work_dir / f'template-out-{size_label(size)}'
  set_up_template(template_dir, data_dir, output_dir)
  log = work_dir / f'template-{size_label(size)}.log'
  measured = run_measured([sys.executable, 'local_runner.py'], template_dir, venv_env(), log)
  components, states, spans = component_times(template_metadata(output_dir), TEMPLATE_NAME)
  return RunResult(TEMPLATE, size, rows, measured, components, states, component_at(spans, measured.peak_at))


def ours_root(work_dir: Path, size: float) -> Path:
  """The --output-root of our runs of a size."""
  return work_dir / f'ours-{size_label(size)}'


def cold_runs(size: float, rows: int, data_dir: Path, work_dir: Path, beam_workers: int,
              skip_template: bool) -> Iterator[Tuple[RunResult, Path]]:
  """Runs ours, then the template, from scratch; each run with the directory its model is pushed under."""
  output_root = ours_root(work_dir, size)
  shutil.rmtree(output_root, ignore_errors=True)
  yield run_ours(size, rows, data_dir, output_root, False, beam_workers), output_root / 'serving_model'
  if not skip_template:
    output_dir = work_dir / f'template-out-{size_label(size)}'
    shutil.rmtree(output_dir, ignore_errors=True)
    yield run_template(size, rows, data_dir, work_dir), template_serving_dir(output_dir)


def describe(result: RunResult) -> str:
  """One progress line."""
  text = (f'{result.pipeline} {size_label(result.size)}: {result.measured.seconds:.1f} s, '
          f'peak {result.measured.peak_rss_bytes / 2**20:,.0f} MB ({result.peak_component or "no component"}), '
          f'exit {result.measured.returncode}')
  if result.auc is not None:
    text += f', holdout AUC {result.auc:.4f}'
  return text + (f' ({result.note})' if result.note else '') + f'; log: {result.measured.log}'


# Report.

def cpu_model() -> str:
  """The CPU model name from /proc/cpuinfo."""
  try:
    with open('/proc/cpuinfo') as f:
      return next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), platform.processor())
  except OSError:
    return platform.processor() or 'unknown'


def machine() -> str:
  """Cores, memory and CPU of this machine."""
  return f'{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB memory, {cpu_model()}'


def run_notes(kept: int, held: int, seed: int, beam_workers: int, load_at_start: float) -> List[str]:
  """How the figures were made, for the results file."""
  workers = f' --beam-workers {beam_workers}' if beam_workers > 1 else ''
  return [f'data: size 1 = the shipped sample less the {held:,} rows held back for the AUC ({kept:,} rows); other '
          f'sizes = size x {SAMPLE_ROWS:,} rows generated from those kept rows (benchmarks/generate.py, seed {seed})',
          f'ours: `local_runner.py --no-cache{workers}`; template: `tfx template copy --model=taxi` with every '
          'component appended, run by its own local_runner.py',
          f'peak memory: largest sum of RSS over the run\'s process tree, polled every {POLL_SECONDS} s; wall clock '
          'includes interpreter start and imports',
          f'load average (1 min) at start: {load_at_start:.2f}, at end: {os.getloadavg()[0]:.2f} '
          f'(other work on the machine slows every figure)']


def render(tables: Sequence[Tuple[str, Table]], command: str, notes: Sequence[str]) -> str:
  """The whole result as Markdown: when, where, how, then every table."""
  parts = ['# Benchmark results', '',
           f'- date: {datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}',
           f'- machine: {machine()}', f'- command: `{command}`'] + [f'- {n}' for n in notes]
  for title, (header, rows) in tables:
    if rows:
      parts += ['', f'## {title}', '', format_table(header, rows)]
  return '\n'.join(parts) + '\n'


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
  """Command-line flags."""
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--sizes', type=parse_sizes, default=[1.0, 10.0, 100.0],
                      help='multiples of the shipped sample, comma-separated (default: 1,10,100)')
  parser.add_argument('--skip-template', action='store_true', help='time only this pipeline')
  parser.add_argument('--work-dir', type=Path, default=None,
                      help='where data, outputs and logs go (default: a new temporary directory, kept)')
  parser.add_argument('--beam-workers', type=int, default=DEFAULT_BEAM_WORKERS,
                      help='--beam-workers of our runs (default: %(default)s)')
  parser.add_argument('--seed', type=int, default=0, help='seed of the generated data (default: %(default)s)')
  parser.add_argument('--write-results', action='store_true', help=f'also write the tables to {RESULTS_FILE}')
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs everything, prints the tables; 0 when every run exited 0."""
  args = parse_args(argv)
  work_dir = (args.work_dir or Path(tempfile.mkdtemp(prefix='taxi-benchmark-'))).resolve()
  work_dir.mkdir(parents=True, exist_ok=True)
  print(f'work dir: {work_dir}', flush=True)
  load_at_start = os.getloadavg()[0]
  header, sample = generate.read_csv(generate.sample_path())
  kept, held = split_holdout(sample)
  examples = [to_tf_example(header, row) for row in held]
  labels = [big_tipper(header, row) for row in held]
  results: List[RunResult] = []
  cached: Optional[RunResult] = None
  for size in args.sizes:
    data_dir, rows = prepare_data(size, work_dir, header, kept, args.seed)
    print(f'{size_label(size)}: {rows:,} rows in {data_dir}', flush=True)
    for result, serving_dir in cold_runs(size, rows, data_dir, work_dir, args.beam_workers, args.skip_template):
      score_pushed_model(result, serving_dir, examples, labels)
      results.append(result)
      print(describe(result), flush=True)
    if size == cached_size(args.sizes):
      cached = run_ours(size, rows, data_dir, ours_root(work_dir, size), True, args.beam_workers)
      print(f'cached rerun {size_label(size)}: {cached.measured.seconds:.1f} s', flush=True)
  tables = [('Cold runs (no cache): seconds per component from ML Metadata', cold_run_table(results, args.sizes)),
            ('Fully cached rerun', cached_table(cached) if cached else ([], [])),
            ('Serving: the pushed model\'s serving_default signature, raw tf.Examples, CPU', serving_table(results))]
  command = 'python -m benchmarks.run ' + ' '.join(argv if argv is not None else sys.argv[1:])
  notes = run_notes(len(kept), len(held), args.seed, args.beam_workers, load_at_start)
  notes += [f'{r.pipeline} {size_label(r.size)}: {r.note}' for r in results if r.note]
  text = render(tables, command.strip(), notes)
  print('\n' + text)
  if args.write_results:
    RESULTS_FILE.write_text(text)
    print(f'wrote {RESULTS_FILE}')
  return 0 if all(r.measured.returncode == 0 for r in results + ([cached] if cached else [])) else 1


if __name__ == '__main__':
  raise SystemExit(main())
