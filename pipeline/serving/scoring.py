"""Scoring a CSV file with a pushed model, batch by batch, for python -m pipeline.predict.

The rows are read in batches (pandas' chunked reader), each batch encoded as the serialized raw tf.Examples the
serving signature takes (preprocessing/examples.py), scored, and appended to a temporary file beside the output,
which is renamed to the output only when every row was scored: a file larger than memory streams through, and a
failure never leaves a partial output.
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable, Iterator, List, Optional, Sequence

import numpy as np
import pandas as pd

from models.contract import DECISION_THRESHOLD, PREDICTED_CLASS_COLUMN, PROBABILITY_COLUMN
from preprocessing import features
from preprocessing.examples import CellError, to_tf_example

Predict = Callable[[List[bytes]], np.ndarray]  # serialized examples -> one probability each, in order
HEADER_LINES = 1


class InputError(ValueError):
  """Input that cannot be scored: the message names the file and, for a cell, its line, column and value."""


def model_directory(model: str, output_root: str) -> str:
  """The SavedModel to score with: the directory given, or for 'latest' the version a model server would serve
  under <output_root>/serving_model (the one models.config names on an object store, else the newest)."""
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top  (TFX: local paths and object stores alike)
  from pipeline.serving import pusher  # pylint: disable=g-import-not-at-top
  if model == 'latest':
    base = os.path.join(output_root, 'serving_model')
    version = pusher.served_version(base)
    if not version:
      raise InputError(f'no model was pushed under {base}: run local_runner.py --output-root {output_root} first, '
                       'or pass --model DIR')
    model = os.path.join(base, version)
  if not fileio.exists(os.path.join(model, 'saved_model.pb')):
    raise InputError(f'{model} is not a SavedModel directory (no saved_model.pb)')
  return model


def signature_predict(model_dir: str) -> Predict:
  """The serving signature of a SavedModel as a function of serialized examples."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from models.contract import PREDICTION_KEY, SERVING_INPUT, SERVING_SIGNATURE  # pylint: disable=g-import-not-at-top
  serve = tf.saved_model.load(model_dir).signatures[SERVING_SIGNATURE]

  def predict(examples: List[bytes]) -> np.ndarray:
    return serve(**{SERVING_INPUT: tf.constant(examples, dtype=tf.string)})[PREDICTION_KEY].numpy().reshape(-1)

  return predict


def check_header(path: str, header: Sequence[str]) -> None:
  """InputError when the header lacks a serving column or already has an output column."""
  missing = [name for name in features.serving_columns() if name not in header]
  if missing:
    raise InputError(f'{path}: missing column(s) {", ".join(missing)}; a file to score has every serving column '
                     f'({", ".join(features.serving_columns())})')
  taken = [name for name in (PROBABILITY_COLUMN, PREDICTED_CLASS_COLUMN) if name in header]
  if taken:
    raise InputError(f'{path}: column(s) {", ".join(taken)} would be overwritten by the predictions')


def batches(path: str, batch_size: int) -> Iterator[pd.DataFrame]:
  """The file's rows as text, batch_size at a time, empty cells as ''; the index counts rows from 0."""
  try:
    header = list(pd.read_csv(path, nrows=0, dtype=str).columns)
  except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
    raise InputError(f'{path}: not a CSV file with a header: {e}') from None
  check_header(path, header)
  reader = pd.read_csv(path, chunksize=batch_size, dtype=str, keep_default_na=False, na_filter=False)
  try:
    yield from reader
  except (pd.errors.ParserError, UnicodeDecodeError) as e:
    raise InputError(f'{path}: {e}') from None


def encode(path: str, batch: pd.DataFrame) -> List[bytes]:
  """The batch's rows as serialized serving examples; InputError naming the line, column and value of a bad cell."""
  header = list(batch.columns)
  examples = []
  for index, row in zip(batch.index, batch.itertuples(index=False, name=None)):
    try:
      examples.append(to_tf_example(header, row))
    except CellError as e:
      raise InputError(f'{path}: line {index + HEADER_LINES + 1}, {e}') from None
  return examples


def scored(batch: pd.DataFrame, probabilities: np.ndarray) -> pd.DataFrame:
  """The batch with its probability and predicted class columns."""
  probabilities = probabilities.astype(np.float32)
  return batch.assign(**{PROBABILITY_COLUMN: probabilities,
                         PREDICTED_CLASS_COLUMN: (probabilities > DECISION_THRESHOLD).astype(np.int64)})


def score_file(predict: Predict, input_path: str, output_path: str, batch_size: int,
               progress: Optional[Callable[[int], None]] = None) -> int:
  """Writes every row of input_path with its predictions to output_path, batch by batch; the number of rows.

  The output appears whole or not at all: it is written to a temporary file in its directory and renamed.
  progress(rows) is called after each batch.
  """
  if batch_size < 1:
    raise InputError(f'--batch-size must be at least 1, not {batch_size}')
  directory = os.path.dirname(os.path.abspath(output_path))
  os.makedirs(directory, exist_ok=True)
  handle, temporary = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(output_path)}.',
                                       suffix='.incomplete')
  rows = 0
  try:
    with os.fdopen(handle, 'w', encoding='utf-8', newline='') as out:
      for batch in batches(input_path, batch_size):
        scored(batch, predict(encode(input_path, batch))).to_csv(out, header=rows == 0, index=False)
        rows += len(batch)
        if progress:
          progress(len(batch))
      if rows == 0:
        raise InputError(f'{input_path}: no rows to score')
    os.replace(temporary, output_path)
  except BaseException:
    os.remove(temporary)
    raise
  return rows
