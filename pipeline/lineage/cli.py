"""Questions about models, artifacts and runs, answered from ML Metadata (a SQLite file or MySQL/MariaDB).

  python -m pipeline.lineage [--metadata-uri URI] [--json] COMMAND
    model [--latest-pushed | ARTIFACT_ID]  what produced a model, back to the input files, and its hyperparameters
                                            (default: the latest pushed model)
    consumers ARTIFACT_ID                   everything derived from an artifact, e.g. the models trained on examples
    runs [--limit N]                        recent runs: status, duration, cached components, overall AUC and its
                                            change from run to run, other metrics, blessing
    diff RUN_A RUN_B                        inputs, (hyper)parameters, schema and metrics that changed between two runs
    dag [RUN] --output FILE                 a picture of a run's DAG: .png/.svg/.pdf (matplotlib) or .dot (Graphviz)

URI: a SQLite file (default outputs/metadata.db) or mysql://USER[:PASSWORD]@HOST:PORT/DATABASE; without a password
in it, $MLMD_MYSQL_PASSWORD is used. RUN is a run id as `runs` lists it, a unique prefix of one, latest or latest~N.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from typing import Any, List, Optional, Tuple

from pipeline import config as config_lib
from pipeline import metadata
from pipeline.lineage import diff as run_diff
from pipeline.lineage import picture, queries, text
from pipeline.reporting import run_summary

DEFAULT_METADATA_URI = os.path.join(config_lib.DEFAULT_OUTPUT_ROOT, config_lib.METADATA_FILE)


def common_options(with_defaults: bool) -> argparse.ArgumentParser:
  """--metadata-uri, --pipeline-name and --json. Without defaults, for the commands: there they only override."""
  defaults = {'metadata_uri': DEFAULT_METADATA_URI, 'pipeline_name': config_lib.PIPELINE_NAME, 'json': False}
  if not with_defaults:
    defaults = dict.fromkeys(defaults, argparse.SUPPRESS)
  parser = argparse.ArgumentParser(add_help=False)
  parser.add_argument('--metadata-uri', default=defaults['metadata_uri'],
                      help='SQLite file or mysql://USER[:PASSWORD]@HOST:PORT/DATABASE '
                           f'(default: {DEFAULT_METADATA_URI})')
  parser.add_argument('--pipeline-name', default=defaults['pipeline_name'],
                      help=f'(default: {config_lib.PIPELINE_NAME})')
  parser.add_argument('--json', action='store_true', default=defaults['json'], help='print JSON, for scripts')
  return parser


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
  """The command line; the common options may come before or after the command."""
  parser = argparse.ArgumentParser(prog='python -m pipeline.lineage', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   parents=[common_options(True)])
  commands = parser.add_subparsers(dest='command', required=True)
  model = commands.add_parser('model', parents=[common_options(False)], help='what produced a model')
  which = model.add_mutually_exclusive_group()
  which.add_argument('--latest-pushed', action='store_true', help='the model pushed last (the default)')
  which.add_argument('artifact_id', nargs='?', type=int, help='a Model (or PushedModel, ModelBlessing) id')
  derived = commands.add_parser('consumers', parents=[common_options(False)],
                                help='everything derived from an artifact')
  derived.add_argument('artifact_id', type=int)
  runs = commands.add_parser('runs', parents=[common_options(False)], help='recent runs and their overall AUC')
  runs.add_argument('--limit', type=int, default=10, help='how many runs (default: %(default)s)')
  diff = commands.add_parser('diff', parents=[common_options(False)], help='what changed between two runs')
  diff.add_argument('run_a')
  diff.add_argument('run_b')
  dag = commands.add_parser('dag', parents=[common_options(False)], help='a picture of a run')
  dag.add_argument('run', nargs='?', default='latest')
  dag.add_argument('--output', required=True, help='.png, .svg, .pdf or .dot file to write')
  return parser.parse_args(argv)


def answer(store: metadata.Store, args: argparse.Namespace) -> Tuple[Any, str]:
  """The command's result and its text."""
  if args.command == 'model':
    lineage = queries.model_lineage(store, args.artifact_id)
    return lineage, text.format_model_lineage(lineage)
  if args.command == 'consumers':
    found = queries.consumers(store, args.artifact_id)
    return found, text.format_consumers(found)
  if args.command == 'runs':
    runs = queries.list_runs(store, args.pipeline_name, args.limit)
    return runs, text.format_runs(runs)
  if args.command == 'diff':
    diff = run_diff.diff_runs(store, args.pipeline_name, args.run_a, args.run_b)
    return diff, text.format_diff(diff)
  dag = picture.run_dag(run_summary.summarize_run(store, queries.resolve_run(store, args.pipeline_name, args.run)))
  picture.write_dag(dag, args.output)
  return {**dataclasses.asdict(dag), 'file': args.output}, f'Wrote the DAG of run {dag.run_id} to {args.output}'


def main(argv: Optional[List[str]] = None) -> int:
  """Answers one question; 1 with a message on stderr when it cannot."""
  args = parse_args(argv)
  logging.getLogger('tensorflow').setLevel(logging.ERROR)
  logging.getLogger('absl').setLevel(logging.ERROR)
  try:
    result, answer_text = answer(metadata.open_uri(args.metadata_uri), args)
  except (LookupError, ValueError, OSError, RuntimeError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(json.dumps(text.jsonable(result), indent=2) if args.json else answer_text)
  return 0
