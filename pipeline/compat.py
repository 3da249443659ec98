"""The private internals of TFX, tensorflow-transform, Beam and the Vertex AI SDK that this project relies on, each
behind one adapter.

Every adapter checks, when it is used, that the library is the version requirements.lock pins and that the
internal is still there, and otherwise fails naming both versions and the internal: an upgrade breaks here, loudly,
instead of somewhere downstream. Protected members that the libraries document for subclasses (an executor's
_log_startup, a Beam executor's _beam_pipeline_args) are not fenced.

Public names are imported from the modules that define them, not from tfx.v1: importing anything from tfx.v1 loads
every component and extension, 13.5 s against 9.1 s for tfx.components here, at the start of every local run.
kubeflow_runner.py, which only compiles, uses tfx.v1.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import types
from importlib import metadata
from typing import Any, Callable, Dict

PINNED = {'tfx': '1.16.0', 'tensorflow-transform': '1.16.0', 'apache-beam': '2.61.0',  # as in requirements.lock
          'google-cloud-aiplatform': '1.165.1', 'tfx-bsl': '1.16.1'}
WRAPPED_MARK = '_taxi_pipeline_wraps'  # set on a function installed by wrap_once: the function it wraps.


class InternalsChanged(RuntimeError):
  """A library no longer has the version or the private internal this project relies on."""


def check_pinned(distribution: str, internal: str) -> None:
  """Fails, naming internal, unless the installed distribution is the version PINNED says."""
  installed = metadata.version(distribution)
  if installed != PINNED[distribution]:
    raise InternalsChanged(
        f'this project relies on {internal}, a private internal of {distribution} {PINNED[distribution]} (pinned in '
        f'requirements.lock), but {distribution} {installed} is installed: check that {internal} still behaves the '
        f'same, then update PINNED in pipeline/compat.py')


def private(distribution: str, holder: Any, name: str) -> Any:
  """holder.name, a private internal of an installed distribution, once its version is checked against PINNED."""
  where = f'{getattr(holder, "__name__", type(holder).__name__)}.{name}'
  check_pinned(distribution, where)
  if not hasattr(holder, name):
    raise InternalsChanged(f'{distribution} {metadata.version(distribution)} has no {where}, which this project '
                           f'relies on')
  return getattr(holder, name)


def wrap_once(distribution: str, holder: Any, name: str, wrap: Callable[[Callable], Callable]) -> None:
  """Replaces holder.name, a private internal of an installed distribution, by wrap(it), once per process."""
  current = private(distribution, holder, name)
  if not hasattr(current, WRAPPED_MARK):
    wrapped = wrap(current)
    setattr(wrapped, WRAPPED_MARK, current)
    setattr(holder, name, wrapped)


def wrap_beam_function_args_defaults(wrap: Callable[[Callable], Callable]) -> None:
  """Replaces Beam's core.get_function_args_defaults (DoFn signatures) by wrap(it), once per process."""
  from apache_beam.transforms import core  # pylint: disable=g-import-not-at-top
  wrap_once('apache-beam', core, 'get_function_args_defaults', wrap)


def batch_records_by_size(enabled: bool) -> None:
  """Whether tfx_bsl's record sources batch by bytes (up to 8,192 records a batch) instead of at most 1,000 records,
  as its flag tfxio_use_byte_size_batching would say if this process parsed absl flags."""
  from tfx_bsl.coders import batch_util  # pylint: disable=g-import-not-at-top
  private('tfx-bsl', batch_util, '_UseByteSizeBatching')
  batch_util._UseByteSizeBatching = lambda: enabled  # pylint: disable=protected-access


def wrap_tfrecord_source(wrap: Callable[[Callable], Callable]) -> None:
  """Replaces tfx_bsl's record_based_tfxio.ReadTfRecord (the Beam source of every TFXIO over TFRecord files) by
  wrap(it), once per process."""
  from tfx_bsl.tfxio import record_based_tfxio  # pylint: disable=g-import-not-at-top
  wrap_once('tfx-bsl', record_based_tfxio, 'ReadTfRecord', wrap)


def wrap_example_source(wrap: Callable[[Callable], Callable]) -> None:
  """Replaces tfx_bsl's TFExampleRecord.BeamSource (RecordBatches of tf.Examples in TFRecord files) by wrap(it),
  once per process."""
  from tfx_bsl.tfxio import tf_example_record  # pylint: disable=g-import-not-at-top
  wrap_once('tfx-bsl', tf_example_record.TFExampleRecord, 'BeamSource', wrap)


def tfxio_file_patterns(tfxio: Any) -> Any:
  """The file patterns a TFExampleRecord TFXIO reads (a pattern or a list of them)."""
  return private('tfx-bsl', tfxio, '_file_pattern')


def tfxio_decoding_schema(tfxio: Any) -> Any:
  """The schema a TFExampleRecord TFXIO decodes tf.Examples with (its projection); None where it has none."""
  return private('tfx-bsl', tfxio, '_GetSchemaForDecoding')()


def example_batch_decoder(tfxio: Any) -> Any:
  """tfx_bsl's DoFn that turns lists of serialized tf.Examples into the RecordBatches a TFExampleRecord TFXIO makes
  of them (its projection of the schema, its raw record column)."""
  from tfx_bsl.tfxio import tf_example_record  # pylint: disable=g-import-not-at-top
  decoder = private('tfx-bsl', tf_example_record, '_DecodeBatchExamplesDoFn')
  return decoder(tfxio_decoding_schema(tfxio), tfxio.raw_record_column_name)


def transform_layer_resources(tft_layer: Any) -> Any:
  """The TFT layer's tracked resources (tables, assets), to export with a SavedModel that is not Keras's."""
  return private('tensorflow-transform', tft_layer, '_saved_model_loader_tracked_dict')


def mark_pushed(executor: Any, pushed_model: Any, destination: str, version: str) -> None:
  """Records a PushedModel as pushed to destination, with TFX's Pusher's own properties."""
  private('tfx', executor, '_MarkPushed')(pushed_model, pushed_destination=destination, pushed_version=version)


def mark_not_pushed(executor: Any, pushed_model: Any) -> None:
  """Records a PushedModel as not pushed, as TFX's Pusher does."""
  private('tfx', executor, '_MarkNotPushed')(pushed_model)


def init_component_skipping(component: Any, component_class: type, spec: Any) -> None:
  """Initializes a component as BaseComponent does, skipping component_class.__init__ (for a spec it cannot build)."""
  from tfx.dsl.components.base import base_component  # pylint: disable=g-import-not-at-top
  private('tfx', base_component.BaseComponent, '__init__')
  super(component_class, component).__init__(spec=spec)


def component_modules(package_init: str) -> Dict[str, str]:
  """The names a package's __init__ source imports from its submodules, each with the module it comes from."""
  names = {}
  for node in ast.parse(package_init).body:
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names.update({alias.asname or alias.name: node.module for alias in node.names})
  return names


def load_components_on_first_use() -> None:
  """Makes tfx.components a package whose components load when first named, in this process, unless it is loaded.

  tfx/components/__init__.py imports every component and, with them, what their executors import: Keras 3 through
  keras_tuner (for the Tuner), kubernetes (InfraValidator) and more, which a run without them never uses. The names
  it exports stay the same (from tfx.components import Trainer works), read from that file's own imports.
  """
  if 'tfx.components' in sys.modules:
    return
  check_pinned('tfx', 'the imports of tfx/components/__init__.py')
  import tfx  # pylint: disable=g-import-not-at-top
  spec = importlib.util.find_spec('tfx.components')
  with open(spec.origin, encoding='utf-8') as f:
    exported = component_modules(f.read())
  package = types.ModuleType(spec.name, 'Subpackage for TFX components (its components load on first use).')
  package.__spec__, package.__file__, package.__path__ = spec, spec.origin, list(spec.submodule_search_locations)
  package.__all__ = sorted(exported)

  def load(name: str) -> Any:
    if name not in exported:
      raise AttributeError(f'module tfx.components has no attribute {name!r}')
    value = getattr(importlib.import_module(exported[name]), name)
    setattr(package, name, value)
    return value

  package.__getattr__ = load
  sys.modules[spec.name] = package
  tfx.components = package
