"""Runs the pipeline locally on Apache Beam's DirectRunner, with ML Metadata in SQLite or MySQL/MariaDB."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import logging
import os
import sys
import time
import traceback
from typing import Callable, Dict, List, Optional, Tuple

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from models import keras_choice  # noqa: E402
from pipeline import compat  # noqa: E402
from pipeline.local import process_tuning  # noqa: E402

if __name__ == '__main__':
  process_tuning.defer_garbage_collection()  # while the libraries below and TFX load, until process_tuning.tune()
  process_tuning.limit_malloc_arenas()  # before the libraries below start threads

keras_choice.use_tf_keras()

from pipeline import config as config_lib  # noqa: E402  (after the Keras choice)
from pipeline import metadata  # noqa: E402
from pipeline.ingest import input_check  # noqa: E402
from pipeline.ingest.spans import csv_files, estimated_rows, span_numbers  # noqa: E402
from pipeline.local import console, exit_codes, executor_worker, replay, run_lock  # noqa: E402


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
  """Command-line flags; every one has a default, so no flag is needed for the taxi sample."""
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--data-root', default=None,
                      help='directory of CSV files with the taxi columns (default: the sample shipped in tfx)')
  parser.add_argument('--output-root', default=config_lib.DEFAULT_OUTPUT_ROOT,
                      help='where metadata.db, pipeline artifacts and serving_model/ go (default: %(default)s)')
  parser.add_argument('--metadata-uri', default=None,
                      help='ML Metadata store: a SQLite file (default: <output-root>/metadata.db) or '
                           'mysql://USER[:PASSWORD]@HOST:PORT/DATABASE; without a password in it, '
                           f'${metadata.MYSQL_PASSWORD_ENV} is used')
  parser.add_argument('--train-steps', type=int, default=config_lib.PipelineConfig.train_steps,
                      help='training steps (default: %(default)s)')
  parser.add_argument('--no-cache', action='store_true', help='rerun every component even if cached')
  parser.add_argument('--no-replay', action='store_true',
                      help='go through TFX even when a rerun with nothing changed would come from the cache (without '
                           'it such a run is recorded as TFX would record it, without loading TFX: '
                           'pipeline/local/replay.py)')
  parser.add_argument('--accept-drift', action='store_true',
                      help='train on data that drifted beyond the schema\'s thresholds (recorded in ML Metadata)')
  parser.add_argument('--window', type=int, default=1, metavar='N',
                      help='with span-N/ folders: train on the newest N spans that passed the gates; older spans '
                           'of the window not ingested yet are ingested and gated first (default: 1)')
  parser.add_argument('--warm-start', action='store_true',
                      help='start training from the weights of the last blessed model, then train --train-steps')
  parser.add_argument('--tune', action='store_true',
                      help='search the model\'s hyperparameters (Tuner) and train with the best; without it the '
                           'Trainer takes the newest tuned ones in ML Metadata, or the defaults declared in models/')
  parser.add_argument('--trials', type=int, default=config_lib.DEFAULT_TUNER_TRIALS, metavar='N',
                      help='with --tune: trials of --train-steps each, the first the defaults (default: %(default)s)')
  parser.add_argument('--tuner-seconds', type=int, default=config_lib.DEFAULT_TUNER_SECONDS, metavar='S',
                      help='with --tune: no trial starts after S seconds of search, the best so far wins; 0: no '
                           'limit (default: %(default)s)')
  parser.add_argument('--tuner-parallel', type=int, default=1, metavar='K',
                      help='with --tune: K trials at once, a process each, sharing the cores (default: %(default)s)')
  parser.add_argument('--inference-data', default=None, metavar='DIR',
                      help='directory of CSV files with the serving columns (no tips) to score after training, '
                           'into <output-root>/predictions/<run id>/predictions.csv (default: none)')
  parser.add_argument('--side-by-side', choices=executor_worker.SIDE_BY_SIDE, default='auto',
                      help='run independent components (StatisticsGen and Transform) at the same time, one of them in '
                           'a second Python process of about 0.65 GB; auto: from '
                           f'{executor_worker.WORKER_MIN_ROWS:,} input rows (default: %(default)s)')
  parser.add_argument('--beam-workers', type=int, default=1,
                      help='Beam DirectRunner worker processes; 1 runs Beam in this process (default: 1)')
  parser.add_argument('--pipeline-name', default=config_lib.PIPELINE_NAME,
                      help='the pipeline\'s name in ML Metadata: its runs, cache and lineage; give each output root '
                           'its own on a store other roots share (default: %(default)s)')
  parser.add_argument('--verbose', action='store_true',
                      help='show TFX, Beam and TensorFlow logs here, as they come (default: a line as each component '
                           'starts and ends, the logs in <output-root>/logs/<run id>.log)')
  args = parser.parse_args(argv)
  if args.window < 1:
    parser.error(f'--window must be at least 1, not {args.window}')
  if args.trials < 1 or args.tuner_seconds < 0:
    parser.error(f'--trials must be at least 1 and --tuner-seconds at least 0, not {args.trials} and '
                 f'{args.tuner_seconds}')
  if not 1 <= args.tuner_parallel <= args.trials:
    parser.error(f'--tuner-parallel must be from 1 to --trials ({args.trials}), not {args.tuner_parallel}')
  return args


def rows_on(progress: Optional[console.Console]) -> Callable[[str, str, Optional[float]], None]:
  """The concurrent runner's report: each start and end of a component, a row of the summary's component table."""
  from pipeline.reporting.run_summary import format_row  # pylint: disable=g-import-not-at-top

  def report(node_id: str, state: str, seconds: Optional[float]) -> None:
    if progress is not None:
      progress.say(format_row(node_id, state, seconds))

  return report


def run_pipeline(config: config_lib.PipelineConfig, worker: Optional[executor_worker.ExecutorWorker],
                 progress: Optional[console.Console] = None, last: bool = False
                 ) -> Tuple[Optional[Exception], Optional[Dict[str, List[str]]]]:
  """Runs the pipeline once, independent components at the same time, and prints on progress, when given, a row as
  each component starts and ends (under the run's heading, but for a backfill); returns what stopped it, or None,
  and, when its resolvers resolve the same inputs again (a next run with nothing changed is all cache hits), the
  names of each node's parameters, which pipeline/local/replay.py needs to record such a run.

  last: no run after this one needs the worker, which stops once nothing left can run beside another component."""
  from pipeline.dag import create_pipeline  # pylint: disable=g-import-not-at-top
  from pipeline.local.concurrent_runner import ConcurrentDagRunner  # pylint: disable=g-import-not-at-top
  from pipeline.reporting.run_summary import format_header  # pylint: disable=g-import-not-at-top
  run_id = datetime.datetime.now().isoformat()  # the pipeline_run context's name, as LocalDagRunner names it
  if progress is not None and config.backfill_span is None:
    progress.say(format_header(run_id))
  runner = ConcurrentDagRunner(worker, run_id, rows_on(progress), retire_worker=last)
  try:
    runner.run(create_pipeline(config))
    return None, runner.repeatable
  except Exception as e:  # pylint: disable=broad-except
    return e, None


def backfill(config: config_lib.PipelineConfig, spans: List[int], worker: Optional[executor_worker.ExecutorWorker],
             out: console.Console, progress: Optional[console.Console]) -> Optional[Exception]:
  """Ingests and gates older spans of the window; a span a gate stops is left out of it, not fatal."""
  from pipeline.gates import GateError  # pylint: disable=g-import-not-at-top
  for span in spans:
    out.say(f'Backfilling span-{span} of the --window {config.window} (ingest and data gate only)')
    failure, _ = run_pipeline(dataclasses.replace(config, backfill_span=span), worker, progress)
    if isinstance(failure, GateError):
      out.say(f'span-{span} is left out of the window: {failure}')
    elif failure:
      return failure
  return None


def inference_data_problems(inference_data_root: str) -> List[input_check.Problem]:
  """What the input check finds wrong with the directory of rows to score (none without one): CSV files directly in
  it, with the serving columns."""
  if not inference_data_root:
    return []
  if span_numbers(inference_data_root):
    return [input_check.Problem(inference_data_root, 'holds span-N/ folders: put the CSV files to score directly in '
                                                     'the directory')]
  return input_check.check_data_root(inference_data_root, serving=True)


def main(argv: Optional[List[str]] = None) -> int:
  """Runs the pipeline, prints the run summary and returns the exit code."""
  args = parse_args(argv)
  config = config_lib.local_config(
      data_root=args.data_root or config_lib.shipped_taxi_data(), output_root=args.output_root,
      train_steps=args.train_steps, enable_cache=not args.no_cache, beam_workers=args.beam_workers,
      metadata_uri=args.metadata_uri, accept_drift=args.accept_drift, window=args.window,
      warm_start=args.warm_start, pipeline_name=args.pipeline_name, tune=args.tune, tuner_trials=args.trials,
      tuner_seconds=args.tuner_seconds, tuner_parallel=args.tuner_parallel,
      inference_data_root=args.inference_data or '')
  metadata.keep_password_out_of_logs(config.metadata_connection_config)
  try:
    log_path = '' if args.verbose else console.new_log_path(args.output_root)
  except OSError as e:
    print(f'error: cannot write the log under {args.output_root}: {e}', file=sys.stderr)
    return exit_codes.FAILED
  with console.for_command(log_path, args.verbose) as out:  # before anything that loads TensorFlow
    problems = input_check.check_data_root(config.data_root)
    if problems:
      out.error(input_check.format_problems(config.data_root, problems))
      return exit_codes.BAD_INPUT
    problems = inference_data_problems(config.inference_data_root)
    if problems:
      out.error(input_check.format_problems(config.inference_data_root, problems, '--inference-data'))
      return exit_codes.BAD_INPUT
    if log_path:
      out.say(f'Library logs: {log_path} (--verbose shows them here)')
    logging.getLogger().setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
      with run_lock.exclusive(args.output_root):  # from the replay check to the end: a second run fails at once
        if not args.no_replay and replay.replay(config, args.output_root, out, args.verbose):
          return exit_codes.OK
        side_by_side = executor_worker.wanted(args.side_by_side, estimated_rows(csv_files(config.data_root)))
        with (executor_worker.started(logging.getLogger().level) if side_by_side  # loads its libraries meanwhile
              else contextlib.nullcontext()) as worker:
          return run(config, args, worker, out)
    except run_lock.OutputRootBusyError as e:
      out.error(f'error: {e}')
      return exit_codes.BUSY


def run(config: config_lib.PipelineConfig, args: argparse.Namespace,
        worker: Optional[executor_worker.ExecutorWorker], out: console.Console) -> int:
  """Backfills the window's missing spans, runs the pipeline, prints the summary; returns the exit code.

  Without --verbose each component's start and end is a row on the console as it happens, and the summary leaves
  out the table they made.
  """
  compat.load_components_on_first_use()  # the run imports the TFX components it uses, not all of them
  import absl.logging  # pylint: disable=g-import-not-at-top  (TFX and TensorFlow load from here on)
  from pipeline.gates.window import spans_to_backfill  # pylint: disable=g-import-not-at-top
  from pipeline.reporting import html_report, run_summary  # pylint: disable=g-import-not-at-top
  import pipeline.dag  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import  (TFX's components)
  import pipeline.local.concurrent_runner  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  process_tuning.tune()
  absl.logging.set_verbosity(absl.logging.INFO if args.verbose else absl.logging.WARNING)
  started = time.monotonic()
  store = metadata.open_store(config.metadata_connection_config)
  spans = spans_to_backfill(store, config.pipeline_name, config.data_root, config.window)
  problems = input_check.check_data_root(config.data_root, spans) if spans else []
  if problems:
    out.error(input_check.format_problems(config.data_root, problems))
    return exit_codes.BAD_INPUT
  progress = None if args.verbose else out
  failure, repeatable = backfill(config, spans, worker, out, progress), None
  if failure is None:
    failure, repeatable = run_pipeline(config, worker, progress, last=True)
  if failure is not None:
    out.to_log(''.join(traceback.format_exception(type(failure), failure, failure.__traceback__)).rstrip())
  summary = run_summary.summarize_latest_run(store, config)
  wall_seconds = time.monotonic() - started
  out.say(run_summary.format_summary(summary, failure, wall_seconds, out.log_path, components=args.verbose))
  report_line, report_inputs = html_report.write_run_report(store, config, args.output_root, summary, failure,
                                                            wall_seconds)
  out.say(report_line)
  if failure is None and report_inputs is not None and repeatable is not None:
    replay.remember(store, config, args.output_root, summary, report_inputs, repeatable)
  else:
    replay.forget(args.output_root)
  return exit_codes.exit_code(failure)


if __name__ == '__main__':
  exit_code = main()
  process_tuning.skip_collection_at_exit()
  sys.exit(exit_code)
