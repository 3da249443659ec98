"""The fences around private internals: each works on the pinned stack and fails loudly on any other."""
import json
import os
import subprocess
import sys

import apache_beam as beam
import pytest
import tensorflow_transform as tft
from apache_beam.testing.util import assert_that
from apache_beam.transforms import core
from tfx.components.pusher import executor as pusher_executor
from tfx.types import standard_artifacts
from tfx_bsl.coders import batch_util

from conftest import REPO_ROOT
from pipeline import compat
from pipeline.ingest.schema_import import CuratedSchemaGen


def test_the_pins_are_the_lock_files():
  locked = dict(line.split(';')[0].strip().split('==', 1) for line in
                (REPO_ROOT / 'requirements.lock').read_text().splitlines() if '==' in line and not line.startswith('#'))
  assert {name: locked[name] for name in compat.PINNED} == compat.PINNED


def test_another_version_fails_naming_both_versions_and_the_internal(monkeypatch):
  monkeypatch.setitem(compat.PINNED, 'apache-beam', '2.60.0')
  with pytest.raises(compat.InternalsChanged, match=r'core\.get_function_args_defaults.*apache-beam 2\.60\.0 '
                                                    r'\(pinned in requirements\.lock\), but apache-beam 2\.61\.0'):
    compat.wrap_beam_function_args_defaults(lambda f: f)


def test_a_missing_internal_fails_naming_it():
  with pytest.raises(compat.InternalsChanged, match='has no Executor._MarkPushedSomewhere'):
    compat.private('tfx', pusher_executor.Executor, '_MarkPushedSomewhere')


def test_beam_signatures_are_wrapped_once(monkeypatch):
  monkeypatch.setattr(core, 'get_function_args_defaults', core.get_function_args_defaults)  # restored afterwards
  original = core.get_function_args_defaults
  calls = []
  compat.wrap_beam_function_args_defaults(lambda f: calls.append(f) or (lambda g: f(g)))
  compat.wrap_beam_function_args_defaults(lambda f: calls.append(f) or (lambda g: f(g)))
  assert calls == [original] and core.get_function_args_defaults is not original


def batch_records(records: int, check) -> None:
  """Batches that many 100-byte records as tfx_bsl's record sources do, and checks the batches' sizes."""
  with beam.Pipeline() as pipeline:
    sizes = (pipeline | beam.Create([b'x' * 100] * records, reshuffle=False)
             | batch_util.BatchRecords(None, None) | beam.Map(len))
    assert_that(sizes, check)


def at_most_1000(sizes):
  assert sum(sizes) == 10_000 and max(sizes) <= 1000, sizes


def by_size(sizes):
  assert sorted(sizes, reverse=True) == [8192, 1808], sizes


def test_record_sources_batch_by_size_up_to_8192_records_instead_of_1000(monkeypatch):
  batch_records(10_000, at_most_1000)
  monkeypatch.setattr(batch_util, '_UseByteSizeBatching', batch_util._UseByteSizeBatching)  # restored afterwards
  compat.batch_records_by_size(True)
  batch_records(10_000, by_size)
  compat.batch_records_by_size(False)
  batch_records(10_000, at_most_1000)


def test_pushed_properties_are_tfx_pushers(tmp_path):
  pushed, skipped = standard_artifacts.PushedModel(), standard_artifacts.PushedModel()
  executor = pusher_executor.Executor()
  compat.mark_pushed(executor, pushed, str(tmp_path / '7'), '7')
  compat.mark_not_pushed(executor, skipped)
  assert (pushed.get_int_custom_property('pushed'), pushed.get_string_custom_property('pushed_version')) == (1, '7')
  assert pushed.get_string_custom_property('pushed_destination') == str(tmp_path / '7')
  assert skipped.get_int_custom_property('pushed') == 0


def test_the_curated_schema_gen_has_importschemagens_outputs_the_evaluation_schema_and_the_digest():
  node = CuratedSchemaGen(schema_file='/x/schema.pbtxt', schema_sha256='abc')
  assert node.exec_properties == {'schema_file': '/x/schema.pbtxt', 'schema_sha256': 'abc'}
  assert list(node.outputs) == ['schema', 'evaluation_schema']


def test_transform_layer_resources_are_tracked_by_the_layer(tmp_path):
  layer = type('Layer', (), {'_saved_model_loader_tracked_dict': {'table': 1}})()
  assert compat.transform_layer_resources(layer) == {'table': 1}
  assert tft.__version__ == compat.PINNED['tensorflow-transform']


def test_component_modules_are_the_names_a_package_imports_from_its_submodules():
  source = ('"""Components."""\nfrom tfx.components.trainer.component import Trainer\n'
            'from tfx.components.tuner.component import Tuner as KerasTuner\nimport os\n__all__ = ["Trainer"]\n')
  assert compat.component_modules(source) == {'Trainer': 'tfx.components.trainer.component',
                                              'KerasTuner': 'tfx.components.tuner.component'}


LAZY_COMPONENTS = '''
import json, sys
from pipeline import compat
compat.load_components_on_first_use()
import tfx.components as package
from tfx.components import Trainer
from tfx.components.trainer.component import Trainer as defined
from pipeline import dag
from test_dag import local_test_config
nodes = [node.id for node in dag.create_pipeline(local_test_config(__import__('pathlib').Path(sys.argv[1]))).components]
heavy = ['keras_tuner', 'keras', 'kubernetes', 'tfx.components.tuner.component',
         'tfx.components.infra_validator.component']
loaded_before_tuner = [name for name in heavy if name in sys.modules]
from tfx.components import Tuner
try:
  package.NoSuchComponent
  unknown = ''
except AttributeError as e:
  unknown = str(e)
print(json.dumps({'same_class': Trainer is defined, 'all': package.__all__, 'nodes': nodes,
                  'loaded_before_tuner': loaded_before_tuner, 'tuner': Tuner.__module__,
                  'keras_tuner_after': 'keras_tuner' in sys.modules, 'unknown': unknown}))
'''


def test_a_run_without_the_tuner_loads_only_the_components_it_names(tmp_path):
  """In a process where tfx.components loads on first use (local_runner.py and its executor worker), building the
  default DAG loads neither the Tuner (Keras 3 through keras_tuner) nor InfraValidator (kubernetes); the package
  exports TFX's names, which load their components when named."""
  import tfx.components  # pylint: disable=g-import-not-at-top  (here, TFX's own package)
  process = subprocess.run([sys.executable, '-c', LAZY_COMPONENTS, str(tmp_path)], cwd=REPO_ROOT, capture_output=True,
                           text=True, env={**os.environ, 'PYTHONPATH': f'{REPO_ROOT}:{REPO_ROOT / "tests/pipeline"}'},
                           check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  seen = json.loads(process.stdout.splitlines()[-1])
  assert seen['same_class'] and seen['all'] == sorted(tfx.components.__all__)
  assert {'Trainer', 'Evaluator', 'Pusher'} <= set(seen['nodes']) and 'Tuner' not in seen['nodes']
  assert seen['loaded_before_tuner'] == []
  assert seen['tuner'] == 'tfx.components.tuner.component' and seen['keras_tuner_after']
  assert seen['unknown'] == "module tfx.components has no attribute 'NoSuchComponent'"
