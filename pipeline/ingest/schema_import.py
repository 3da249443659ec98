"""The curated schema (schema/schema.pbtxt) as the pipeline's Schema artifact, re-imported when its content changes."""
from __future__ import annotations

from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.types import channel, component_spec, standard_artifacts
from tfx.types.standard_component_specs import ImportSchemaGenSpec

from pipeline import compat


class CuratedSchemaSpec(ImportSchemaGenSpec):
  """ImportSchemaGen's spec plus the schema file's digest, which thereby enters the cache key."""
  PARAMETERS = {**ImportSchemaGenSpec.PARAMETERS,
                'schema_sha256': component_spec.ExecutionParameter(type=str)}


class CuratedSchemaGen(ImportSchemaGen):
  """ImportSchemaGen that re-imports when the curated schema's content changes, not only its path."""
  SPEC_CLASS = CuratedSchemaSpec

  def __init__(self, schema_file: str, schema_sha256: str):  # pylint: disable=super-init-not-called
    spec = CuratedSchemaSpec(schema_file=schema_file, schema_sha256=schema_sha256,
                             schema=channel.Channel(type=standard_artifacts.Schema))
    compat.init_component_skipping(self, ImportSchemaGen, spec)  # ImportSchemaGen.__init__ builds its own spec.
