"""Exit codes of local_runner.py, for scripts and schedulers."""
from __future__ import annotations

from typing import Optional

from pipeline.gates.base import GateError

OK = 0  # the run completed: pushed, or evaluated and not blessed (the summary says why).
FAILED = 1  # a component failed.
BAD_INPUT = 2  # --data-root could not be read as the declared columns, or a gate stopped the run.
BUSY = 3  # another run holds the same --output-root.


def exit_code(failure: Optional[BaseException]) -> int:
  """OK when the run completed (pushed or deliberately not blessed), BAD_INPUT when a gate stopped it, else FAILED."""
  if isinstance(failure, GateError):
    return BAD_INPUT
  return FAILED if failure is not None else OK
