"""The benchmark's result tables (cold runs, the reruns with nothing changed, serving) and the Markdown report around
them: when, on what machine, with which command and how the figures were made."""
from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import psutil

from benchmarks.measure import POLL_SECONDS
from benchmarks.results import OURS, SAMPLE_ROWS, TEMPLATE, RunResult, find_result, size_label
from benchmarks.serving import BATCH
from pipeline.local import replay

THROUGHPUT_COMPONENTS = ('CsvExampleGen', 'StatisticsGen', 'Transform')

Table = Tuple[List[str], List[List[str]]]  # header, rows of cells.


def ratio(ours: Optional[float], template: Optional[float]) -> Optional[float]:
  """ours / template, or None when either is missing or the template's is not positive."""
  if ours is None or template is None or template <= 0:
    return None
  return ours / template


def rows_per_second(rows: int, seconds: Optional[float]) -> Optional[float]:
  """Throughput, or None without a positive duration."""
  return rows / seconds if seconds and seconds > 0 else None


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


def extrapolate(rows: int, smaller: Tuple[int, float], larger: Tuple[int, float]) -> float:
  """Seconds at rows, on the line through (rows, seconds) at two smaller sizes; never below the larger size's.

  A component whose time does not grow with the data (the Trainer's fixed steps) stays where it was.
  """
  (rows_a, seconds_a), (rows_b, seconds_b) = smaller, larger
  slope = (seconds_b - seconds_a) / (rows_b - rows_a) if rows_b != rows_a else 0.0
  return seconds_b + max(slope, 0.0) * (rows - rows_b)


def two_largest(runs: Sequence[RunResult]) -> List[RunResult]:
  """The runs over the most rows, at most two, smaller first: what an estimate at a larger size extrapolates from."""
  return sorted(runs, key=lambda r: r.rows)[-2:]


def template_estimate(rows: int, template_runs: Sequence[RunResult]) -> Tuple[Dict[str, float], Optional[float]]:
  """The template's seconds per component and wall clock at rows, extrapolated from its two largest runs (None
  without two); its wall clock is the sum of its components (it runs them one after another) plus its overhead."""
  runs = two_largest(template_runs)
  if len(runs) < 2:
    return {}, None
  smaller, larger = runs
  components = {name: extrapolate(rows, (smaller.rows, smaller.components.get(name, 0.0)), (larger.rows, seconds))
                for name, seconds in larger.components.items()}
  overhead = larger.measured.seconds - sum(larger.components.values())
  return components, sum(components.values()) + overhead


def ours_only_table(ours: RunResult, template_runs: Sequence[RunResult]) -> Table:
  """A size only this pipeline ran at: its seconds per component and rows/s of those that read every row, beside the
  template's seconds estimated from its two largest runs (extrapolate), then wall clock, peak memory and AUC."""
  estimated, estimated_wall = template_estimate(ours.rows, template_runs)
  basis = ', '.join(size_label(r.size) for r in two_largest(template_runs))
  label = size_label(ours.size)
  header = ['', f'ours {label}', f'ours {label} rows/s', f'template {label}, estimated from {basis}', 'ratio']
  rows = []
  for name in ordered_components([ours] + list(template_runs)):
    seconds = ours.components.get(name)
    throughput = rows_per_second(ours.rows, seconds) if name in THROUGHPUT_COMPONENTS else None
    rows.append([f'{name} (s)', fmt(seconds), fmt(throughput, 0),
                 fmt(estimated.get(name)), fmt_ratio(ratio(seconds, estimated.get(name)))])
  wall = ours.measured.seconds
  rows.append(['**wall clock (s)**', fmt(wall), fmt(rows_per_second(ours.rows, wall), 0), fmt(estimated_wall),
               fmt_ratio(ratio(wall, estimated_wall))])
  rows.append(['peak memory (MB)', fmt(ours.measured.peak_rss_bytes / 2**20, 0), '', '-', ''])
  rows.append(['peak memory during', ours.peak_component or 'no component', '', '', ''])
  rows.append(['rows', fmt(ours.rows, 0), '', '', ''])
  rows.append(['holdout AUC', fmt(ours.auc, 4), '', '', ''])
  rows.append(['exit code', str(ours.measured.returncode), '', '', ''])
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


def rerun_table(reruns: List[RunResult]) -> Table:
  """Reruns with nothing changed, in order: wall time, how the run went (through TFX, or replayed), how many
  components came from the cache and which did not."""
  return (['rerun', 'wall clock (s)', 'how', 'components cached', 'ran again', 'peak memory (MB)', 'exit code'],
          [[f'ours {size_label(r.size)} #{number}', fmt(r.measured.seconds), 'replayed' if replayed(r) else 'TFX',
            f'{sum(1 for s in r.states.values() if s == "CACHED")} of {len(r.states)}',
            ', '.join(ran_again(r)) or 'none', fmt(r.measured.peak_rss_bytes / 2**20, 0), str(r.measured.returncode)]
           for number, r in enumerate(reruns, 1)])


def replayed(result: RunResult) -> bool:
  """Whether a run of ours was replayed without TFX (pipeline/local/replay.py), as its console said."""
  return result.measured.log.exists() and replay.REPLAYED in result.measured.log.read_text(errors='replace')


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
          f'ours: `local_runner.py{workers}` on a fresh output root; template: `tfx template copy --model=taxi` with '
          'every component appended, run by its own local_runner.py',
          f'peak memory: largest sum of RSS over the run\'s process tree, polled every {POLL_SECONDS} s; wall clock '
          'includes interpreter start and imports',
          f'load average (1 min) at start: {load_at_start:.2f}, at end: {os.getloadavg()[0]:.2f} '
          f'(other work on the machine slows every figure)', f'code: {code_version()}']


def code_version() -> str:
  """The repository's commit, and whether files differ from it ('unknown' outside a git checkout)."""
  def git(*args: str) -> str:
    return subprocess.run(['git', *args], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True,
                          check=True).stdout.strip()
  try:
    commit, changed = git('rev-parse', '--short', 'HEAD'), git('status', '--porcelain', '--untracked-files=no')
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'
  return f'commit {commit}' + (', with uncommitted changes' if changed else '')


def render(tables: Sequence[Tuple[str, Table]], command: str, notes: Sequence[str]) -> str:
  """The whole result as Markdown: when, where, how, then every table."""
  parts = ['# Benchmark results', '',
           f'- date: {datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}',
           f'- machine: {machine()}', f'- command: `{command}`'] + [f'- {n}' for n in notes]
  for title, (header, rows) in tables:
    if rows:
      parts += ['', f'## {title}', '', format_table(header, rows)]
  return '\n'.join(parts) + '\n'
