"""Settings of a process that runs executors locally, applied once its libraries are loaded (tune), and before each
executor it runs (batch_records_for)."""
from __future__ import annotations

import gc
import types
import weakref
from typing import TYPE_CHECKING, Any, Callable, List, Tuple, Union

from pipeline import compat

if TYPE_CHECKING:
  from tfx.proto.orchestration import executable_spec_pb2

  ExecutableSpec = Union[executable_spec_pb2.PythonClassExecutableSpec, executable_spec_pb2.BeamExecutableSpec]

GC_YOUNGEST_THRESHOLD = 50_000  # allocations between collections of the youngest objects (Python's default: 700)
GC_OLDER_THRESHOLD = 20  # collections of a generation between collections of the next (default: 10)
SIZE_BATCHED_EXECUTORS = ('tfx.components.statistics_gen.executor.Executor',
                          'tfx.components.transform.executor.Executor')

ArgsDefaults = Tuple[List[str], List[Any]]


def defer_garbage_collection() -> None:
  """No garbage collection until tune(), called before the libraries load.

  Loading TensorFlow, TFX and Beam makes some 640,000 objects that live as long as the process and about 7,000 of
  garbage; collecting while they loaded took 1.3-1.5 s of the main process before its first component.
  """
  gc.disable()


def tune() -> None:
  """Applies every setting below to this process."""
  tune_garbage_collection()
  remember_beam_signatures()


def tune_garbage_collection() -> None:
  """Keeps the libraries loaded so far out of garbage collection, and collects the objects made later less often.

  TensorFlow, TFX, Beam and their kin load millions of objects that live as long as the process, and every full
  collection traversed them all: 2.7 s of the main process's time in a run on the default data, and 1.8 s more at
  interpreter exit. Graph building then makes objects by the million: collecting the youngest every 50,000
  allocations instead of 700 halved what remained (2.9 s -> 1.3 s of collections in that process). Collection
  resumes here if defer_garbage_collection() stopped it.
  """
  gc.freeze()
  gc.set_threshold(GC_YOUNGEST_THRESHOLD, GC_OLDER_THRESHOLD, GC_OLDER_THRESHOLD)
  gc.enable()


def skip_collection_at_exit() -> None:
  """Leaves the objects of a finished run to the operating system: the interpreter's teardown traversed them all in
  a last collection, 1.2 s after a run on the default data."""
  gc.freeze()


def remembering(args_defaults: Callable[[Callable], ArgsDefaults]) -> Callable[[Callable], ArgsDefaults]:
  """args_defaults computed once per Python function, for the function and for every method bound to it.

  A bound method's arguments (less the one it is bound to) and defaults are those of its function whatever the
  instance, so the function, held weakly, is the key. Other callables are not remembered.
  """
  known: 'weakref.WeakKeyDictionary[types.FunctionType, dict]' = weakref.WeakKeyDictionary()

  def remembered(f: Callable) -> ArgsDefaults:
    bound = isinstance(f, types.MethodType)
    function = f.__func__ if bound else f
    if not isinstance(function, types.FunctionType):
      return args_defaults(f)
    by_binding = known.setdefault(function, {})
    if bound not in by_binding:
      by_binding[bound] = args_defaults(f)
    args, defaults = by_binding[bound]
    return list(args), list(defaults)

  remembered.remembers = args_defaults
  return remembered


def remember_beam_signatures() -> None:
  """Makes Beam look up the signature of each DoFn method once instead of at every bundle.

  Beam 2.61 checks every method of every DoFn for state and timer parameters whenever it sets up a bundle, through
  inspect.signature: in profiles, 10 % of the Evaluator's time at 10x and 20 % of Transform's on the default data.
  Its core.get_function_args_defaults, where that time goes, is replaced by a remembering one (once per process).
  """
  compat.wrap_beam_function_args_defaults(remembering)


def executor_class_path(spec: ExecutableSpec) -> str:
  """The executor class an executable spec names."""
  return spec.python_executor_spec.class_path if hasattr(spec, 'python_executor_spec') else spec.class_path


def batch_records_for(spec: ExecutableSpec) -> None:
  """Makes the record sources of the executor about to run here batch by size when it is one of
  SIZE_BATCHED_EXECUTORS, by at most 1,000 records otherwise.

  At 100x, batches of up to 8,192 records took StatisticsGen 59 s instead of 71 s and Transform 61 s instead of
  76 s; the Evaluator (about 10,000 rows at any size) took 2 s longer at 10x and at 100x, so it keeps tfx_bsl's
  default.
  """
  compat.batch_records_by_size(executor_class_path(spec) in SIZE_BATCHED_EXECUTORS)
