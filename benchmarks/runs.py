"""The benchmark's pipeline runs: the data of a size, then a cold run of ours and of the TFX taxi template (or a
cached rerun of ours), each as a measured child process with its components' times from its ML Metadata."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

from benchmarks import generate
from benchmarks.measure import component_at, component_times, run_measured, venv_env
from benchmarks.results import OURS, TEMPLATE, RunResult, rows_for_size, size_label
from benchmarks.template import TEMPLATE_NAME, copy_template, set_up_template, template_metadata, template_serving_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


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


def ours_command(data_dir: Path, output_root: Path, beam_workers: int) -> List[str]:
  """The local_runner.py command line of a run of ours, as a user runs it (the cache on: a run on a fresh output root
  is cold, and a rerun is replayed as a user's would be)."""
  command = [sys.executable, 'local_runner.py', '--data-root', str(data_dir), '--output-root', str(output_root)]
  return command + (['--beam-workers', str(beam_workers)] if beam_workers > 1 else [])


def run_ours(size: float, rows: int, data_dir: Path, output_root: Path, beam_workers: int,
             label: str = 'cold') -> RunResult:
  """One run of local_runner.py, measured, with its component times from its MLMD; label names its log."""
  from pipeline import config as config_lib  # pylint: disable=g-import-not-at-top
  log = output_root.parent / f'{output_root.name}-{label}.log'
  measured = run_measured(ours_command(data_dir, output_root, beam_workers), REPO_ROOT, venv_env(), log)
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
  yield run_ours(size, rows, data_dir, output_root, beam_workers), output_root / 'serving_model'
  if not skip_template:
    output_dir = work_dir / f'template-out-{size_label(size)}'
    shutil.rmtree(output_dir, ignore_errors=True)
    yield run_template(size, rows, data_dir, work_dir), template_serving_dir(output_dir)
