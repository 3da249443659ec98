"""Runs the pipeline locally on Apache Beam's DirectRunner with SQLite ML Metadata."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import List, Optional

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from pipeline import config as config_lib  # noqa: E402  (sets the Keras choice before TensorFlow loads)
from pipeline import report  # noqa: E402
from pipeline.pipeline import create_pipeline  # noqa: E402


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
  """Command-line flags; every one has a default, so no flag is needed for the taxi sample."""
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--data-root', default=None,
                      help='directory of CSV files with the taxi columns (default: the sample shipped in tfx)')
  parser.add_argument('--output-root', default=config_lib.DEFAULT_OUTPUT_ROOT,
                      help='where metadata.db, pipeline artifacts and serving_model/ go (default: %(default)s)')
  parser.add_argument('--train-steps', type=int, default=config_lib.PipelineConfig.train_steps,
                      help='training steps (default: %(default)s)')
  parser.add_argument('--no-cache', action='store_true', help='rerun every component even if cached')
  parser.add_argument('--beam-workers', type=int, default=1,
                      help='Beam DirectRunner worker processes; 1 runs Beam in this process (default: 1)')
  parser.add_argument('--verbose', action='store_true', help='show TFX, Beam and TensorFlow logs')
  return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
  """Runs the pipeline, prints the run summary and returns the exit code."""
  args = parse_args(argv)
  logging.getLogger().setLevel(logging.INFO if args.verbose else logging.WARNING)
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  import absl.logging  # pylint: disable=g-import-not-at-top
  absl.logging.set_verbosity(absl.logging.INFO if args.verbose else absl.logging.WARNING)
  config = config_lib.local_config(
      data_root=args.data_root or config_lib.shipped_taxi_data(), output_root=args.output_root,
      train_steps=args.train_steps, enable_cache=not args.no_cache, beam_workers=args.beam_workers)
  error = report.check_data_root(config.data_root)
  if error:
    print(error, file=sys.stderr)
    return report.EXIT_BAD_INPUT
  os.makedirs(args.output_root, exist_ok=True)
  started = time.monotonic()
  failure = None
  try:
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config))
  except Exception as e:  # pylint: disable=broad-except
    failure = e
  summary = report.summarize_latest_run(config)
  print(report.format_summary(summary, failure, time.monotonic() - started))
  return report.exit_code(summary, failure)


if __name__ == '__main__':
  sys.exit(main())
