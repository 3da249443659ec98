"""Compiles the pipeline for Vertex AI Pipelines (KubeflowV2DagRunner), also under `tfx pipeline --engine vertex`.

Settings come from environment variables so that the tfx CLI, which runs this file without arguments, works:
  PIPELINE_ROOT   gs://bucket/path where artifacts and the pushed model go   (required)
  DATA_ROOT       directory of CSV files, usually gs://...  (default: PIPELINE_ROOT/data)
  PIPELINE_IMAGE  container image with this project installed (default: gcr.io/$GOOGLE_CLOUD_PROJECT/taxi-big-tipper)
  PIPELINE_OUTPUT compiled file (default: taxi-big-tipper.json, a Vertex PipelineJob)
"""
from __future__ import annotations

import os
import sys

from pipeline import config as config_lib  # sets the Keras choice before TensorFlow loads
from pipeline.pipeline import create_pipeline

CONTAINER_SCHEMA_FILE = '/pipeline/schema/schema.pbtxt'


def vertex_config(environ=os.environ) -> config_lib.PipelineConfig:
  """The pipeline configuration for a Vertex run, from environment variables."""
  pipeline_root = environ.get('PIPELINE_ROOT')
  if not pipeline_root:
    raise SystemExit('error: set PIPELINE_ROOT (for example gs://my-bucket/taxi-big-tipper) before compiling.')
  return config_lib.PipelineConfig(
      data_root=environ.get('DATA_ROOT', f'{pipeline_root}/data'),
      pipeline_root=pipeline_root,
      serving_model_dir=f'{pipeline_root}/serving_model',
      schema_file=CONTAINER_SCHEMA_FILE)


def default_image(environ=os.environ) -> str:
  """The container image the compiled pipeline runs in."""
  return environ.get('PIPELINE_IMAGE',
                     f'gcr.io/{environ.get("GOOGLE_CLOUD_PROJECT", "YOUR_PROJECT")}/taxi-big-tipper')


def main() -> int:
  """Writes the compiled pipeline; the tfx CLI picks it up from there."""
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=default_image()),
      output_filename=os.environ.get('PIPELINE_OUTPUT', f'{config_lib.PIPELINE_NAME}.json'))
  runner.run(create_pipeline(vertex_config()))
  return 0


if __name__ == '__main__':
  sys.exit(main())
