"""pipeline/ingest/schema_import.py: the curated schema as imported, and the evaluation schema of its slice columns,
which the end-to-end run's Evaluator decoded its examples with."""
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from conftest import eval_split, latest_run
from pipeline import config as config_lib
from pipeline.ingest.schema_import import EVALUATION_SCHEMA_KEY, CuratedSchemaExecutor, evaluation_schema
from preprocessing import features


def curated_schema() -> schema_pb2.Schema:
  return io_utils.SchemaReader().read(str(config_lib.SCHEMA_FILE))


def feature_values(example: tf.train.Example, column: str) -> list:
  """The values of one column of an example, strings decoded, as TFMA's slice keys hold them."""
  value_list = example.features.feature[column]
  kind = value_list.WhichOneof('kind')
  values = list(getattr(value_list, kind).value) if kind else []
  return [v.decode() if isinstance(v, bytes) else v for v in values]


def test_the_evaluation_schema_keeps_the_slice_columns_as_curated():
  curated = curated_schema()
  cut = evaluation_schema(curated)
  assert [f.name for f in cut.feature] == [f.name for f in curated.feature if f.name in features.slice_columns()]
  assert sorted(f.name for f in cut.feature) == sorted(features.slice_columns())
  assert all(f == next(g for g in curated.feature if g.name == f.name) for f in cut.feature)
  assert list(cut.string_domain) == list(curated.string_domain)
  assert len(curated.feature) == len(features.FEATURES) > len(cut.feature)


def test_a_schema_without_a_slice_column_is_named():
  schema = curated_schema()
  kept = [f for f in schema.feature if f.name != 'company']
  del schema.feature[:]
  schema.feature.extend(kept)
  with pytest.raises(ValueError, match=r"\['company'\].*preprocessing/features.py"):
    evaluation_schema(schema)


def test_the_executor_imports_the_curated_schema_and_writes_the_evaluation_schema(tmp_path):
  outputs = {}
  for key in ('schema', EVALUATION_SCHEMA_KEY):
    outputs[key] = [standard_artifacts.Schema()]
    outputs[key][0].uri = str(tmp_path / key)
    (tmp_path / key).mkdir()
  CuratedSchemaExecutor().Do({}, outputs, {'schema_file': str(config_lib.SCHEMA_FILE), 'schema_sha256': 'x'})
  assert (tmp_path / 'schema' / 'schema.pbtxt').read_bytes() == config_lib.SCHEMA_FILE.read_bytes()
  written = io_utils.SchemaReader().read(str(tmp_path / EVALUATION_SCHEMA_KEY / 'schema.pbtxt'))
  assert written == evaluation_schema(curated_schema())


def test_the_evaluator_read_the_evaluation_schema_and_sliced_every_value(e2e_run):
  evaluator = latest_run(e2e_run[0]).component('Evaluator')
  [schema] = evaluator.inputs['schema']
  assert io_utils.SchemaReader().read(f'{schema.uri}/schema.pbtxt') == evaluation_schema(curated_schema())
  examples = [tf.train.Example.FromString(e) for e in eval_split(e2e_run[0])]
  expected = {((column, value),) for example in examples for column in features.slice_columns()
              for value in feature_values(example, column)}
  assert {column for ((column, _),) in expected} == set(features.slice_columns())
  [evaluation] = evaluator.outputs['evaluation']
  by_slice = dict(tfma.load_eval_result(evaluation.uri).slicing_metrics)
  assert set(by_slice) == expected | {()}
  assert by_slice[()]['']['']['example_count']['doubleValue'] == len(examples)
