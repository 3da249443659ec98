"""What a benchmark run took: wall time and peak memory of a child process and its descendants, and each
component's seconds, state and time span from the run's ML Metadata."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import psutil

POLL_SECONDS = 0.2

NodeTimes = Tuple[Dict[str, float], Dict[str, str], Dict[str, Tuple[float, float]]]  # seconds, state, start/end.


@dataclasses.dataclass(frozen=True)
class Measured:
  """What one child process took."""
  seconds: float
  peak_rss_bytes: int
  returncode: int
  log: Path
  peak_at: float = 0.0  # when the peak was seen: seconds since the epoch.


def venv_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
  """The environment for child processes: this interpreter's bin first on PATH, quiet TensorFlow."""
  env = dict(os.environ)
  env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{env.get("PATH", "")}'
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  env.pop('PYTHONPATH', None)
  env.update(extra or {})
  return env


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


def component_times(metadata_db: Path, pipeline_name: str) -> NodeTimes:
  """Seconds, state, start and end (epoch seconds) of every node of the newest run in a SQLite MLMD store."""
  if not metadata_db.exists():
    return {}, {}, {}
  from pipeline import metadata  # pylint: disable=g-import-not-at-top
  store = metadata.open_store(metadata.sqlite_metadata(str(metadata_db)), read_only=True)
  context = metadata.latest_run_context(store, pipeline_name)
  runs = metadata.component_runs(store, context.id) if context else []
  return ({r.node_id: r.seconds for r in runs}, {r.node_id: r.state for r in runs},
          {r.node_id: (r.started_ms / 1000, r.ended_ms / 1000) for r in runs})


def component_at(spans: Dict[str, Tuple[float, float]], moment: float) -> str:
  """The node that was running at a moment (node -> start, end; seconds since the epoch), the latest to start."""
  running = [node for node, (start, end) in spans.items() if start <= moment <= end]
  return max(running, key=lambda node: spans[node][0], default='')
