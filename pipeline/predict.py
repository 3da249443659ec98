"""Scores a CSV file of trips with a pushed model, without a pipeline run.

  python -m pipeline.predict --model latest --input trips.csv --output scored.csv
  python -m pipeline.predict --model outputs/serving_model/1796194261 --input trips.csv --output scored.csv

The output has every input column and row, in order, plus `probability` (of a big tipper) and `big_tipper_predicted`
(1 when the probability is above 0.5). The file streams through in batches (--batch-size rows) with a progress bar
on a terminal. Exit code 0 when every row was scored; 2, with the file, line, column and value, for input it cannot
score; then no output file is written.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from tqdm import tqdm

from models.contract import DECISION_THRESHOLD, PREDICTED_CLASS_COLUMN, PROBABILITY_COLUMN
from pipeline.config import DEFAULT_OUTPUT_ROOT
from pipeline.local import console
from pipeline.serving import scoring

DEFAULT_BATCH_SIZE = 1024
BAD_INPUT = 2


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
  """The command's flags."""
  parser = argparse.ArgumentParser(prog='python -m pipeline.predict', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--model', default='latest',
                      help='a SavedModel directory, or latest: the model served under <output-root>/serving_model '
                           '(default: %(default)s)')
  parser.add_argument('--output-root', default=DEFAULT_OUTPUT_ROOT,
                      help='the output root of local_runner.py, for --model latest (default: %(default)s)')
  parser.add_argument('--input', required=True, help='CSV file with a header and the taxi columns (tips optional)')
  parser.add_argument('--output', required=True, help='CSV file to write: the input with the predictions')
  parser.add_argument('--batch-size', type=int, default=DEFAULT_BATCH_SIZE,
                      help='rows read and scored at a time (default: %(default)s)')
  parser.add_argument('--quiet', action='store_true', help='no progress bar (there is none when stderr is not a '
                                                           'terminal)')
  parser.add_argument('--verbose', action='store_true', help='show the warnings and logs of the libraries')
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Scores the input file into the output file; the exit code."""
  args = parse_args(argv)
  try:
    with console.for_command(os.devnull, args.verbose):  # what TensorFlow and its loaders print
      model = scoring.model_directory(args.model, args.output_root)
      if not os.path.isfile(args.input):
        raise scoring.InputError(f'{args.input}: no such file')
      predict = scoring.signature_predict(model)
    with tqdm(unit=' rows', file=sys.stderr, disable=args.quiet or not sys.stderr.isatty()) as bar:
      rows = scoring.score_file(predict, args.input, args.output, args.batch_size, bar.update)
  except scoring.InputError as e:
    print(f'error: {e}', file=sys.stderr)
    return BAD_INPUT
  print(f'Scored {rows} rows of {args.input} with {model} into {args.output} (columns {PROBABILITY_COLUMN}, '
        f'{PREDICTED_CLASS_COLUMN}: 1 above {DECISION_THRESHOLD})')
  return 0


if __name__ == '__main__':
  sys.exit(main())
