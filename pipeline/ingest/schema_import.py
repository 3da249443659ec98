"""The curated schema (schema/schema.pbtxt) as the pipeline's Schema artifact, re-imported when its content changes,
and the schema the Evaluator decodes examples with: the curated one cut to the slice columns."""
from __future__ import annotations

import os
from typing import Any, Dict, List

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import types
from tfx.components.schema_gen import executor as schema_gen_executor
from tfx.components.schema_gen.import_schema_gen import executor as import_schema_gen_executor
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, channel, component_spec, standard_artifacts
from tfx.types.standard_component_specs import SCHEMA_FILE_KEY, ImportSchemaGenSpec
from tfx.utils import io_utils

from pipeline import compat
from preprocessing import features

EVALUATION_SCHEMA_KEY = 'evaluation_schema'


def evaluation_schema(schema: schema_pb2.Schema) -> schema_pb2.Schema:
  """The schema cut to the columns evaluation slices by, for the Evaluator.

  TFMA decodes every column of its schema (every column of the data without one) and splits each into every example
  it evaluates: 18 columns for the 3 that it slices by. The model and the label signature read the serialized
  example itself, so they still see every column.
  """
  kept = schema_pb2.Schema()
  kept.CopyFrom(schema)
  del kept.feature[:]
  kept.feature.extend(f for f in schema.feature if f.name in features.slice_columns())
  kept.ClearField('tensor_representation_group')
  missing = set(features.slice_columns()) - {f.name for f in kept.feature}
  if missing:
    raise ValueError(f'The curated schema declares no column {sorted(missing)} that evaluation slices by '
                     '(preprocessing/features.py).')
  return kept


class CuratedSchemaExecutor(import_schema_gen_executor.Executor):
  """ImportSchemaGen's executor, which also writes the evaluation schema."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    super().Do(input_dict, output_dict, exec_properties)
    schema = io_utils.SchemaReader().read(exec_properties[SCHEMA_FILE_KEY])
    io_utils.write_pbtxt_file(
        os.path.join(artifact_utils.get_single_uri(output_dict[EVALUATION_SCHEMA_KEY]),
                     schema_gen_executor.DEFAULT_FILE_NAME),
        evaluation_schema(schema))


class CuratedSchemaSpec(ImportSchemaGenSpec):
  """ImportSchemaGen's spec plus the evaluation schema, and a digest of the schema file and of the code that derives
  both schemas from it (this module, and preprocessing/features.py for the slice columns), which thereby enters the
  cache key: a column newly declared a slice column then reaches the Evaluator's schema."""
  PARAMETERS = {**ImportSchemaGenSpec.PARAMETERS,
                'schema_sha256': component_spec.ExecutionParameter(type=str)}
  OUTPUTS = {**ImportSchemaGenSpec.OUTPUTS,
             EVALUATION_SCHEMA_KEY: component_spec.ChannelParameter(type=standard_artifacts.Schema)}


class CuratedSchemaGen(ImportSchemaGen):
  """ImportSchemaGen that re-imports when the curated schema's content changes, not only its path, and also outputs
  the evaluation schema."""
  SPEC_CLASS = CuratedSchemaSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(CuratedSchemaExecutor)

  def __init__(self, schema_file: str, schema_sha256: str):  # pylint: disable=super-init-not-called
    spec = CuratedSchemaSpec(schema_file=schema_file, schema_sha256=schema_sha256,
                             schema=channel.Channel(type=standard_artifacts.Schema),
                             evaluation_schema=channel.Channel(type=standard_artifacts.Schema))
    compat.init_component_skipping(self, ImportSchemaGen, spec)  # ImportSchemaGen.__init__ builds its own spec.
