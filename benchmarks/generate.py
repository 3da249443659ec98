"""Writes realistic taxi-like CSVs of a requested size, resampled from the shipped Chicago taxi sample.

Rows are drawn with replacement from the sample. Each drawn row gets its start time moved by up to three days on
the sample's 15-minute grid (hour, weekday and month follow the new time), its fare and tip scaled by one shared
price factor (the tip by a little more noise, so that "tip > 20 % of fare" stays learnable), and its distance and
duration by one shared trip factor. Every other cell, empty cells included, is copied as it is, so the category
mix and the missing values are those of the sample.

  python -m benchmarks.generate --rows 150000 --out /tmp/taxi10x [--seed 0] [--files 1]
"""
from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

SAMPLE_FILE = 'data.csv'
TIMESTAMP, HOUR, DAY, MONTH = 'trip_start_timestamp', 'trip_start_hour', 'trip_start_day', 'trip_start_month'
FARE, TIPS, MILES, SECONDS = 'fare', 'tips', 'trip_miles', 'trip_seconds'
TIME_GRID_SECONDS = 900  # the sample's start times are multiples of 15 minutes.
MAX_SHIFT_STEPS = 3 * 24 * 4  # three days of 15-minute steps either way.
PRICE_SIGMA = 0.05  # log-normal spread of the factor shared by fare and tip.
TIP_SIGMA = 0.02  # extra spread of the tip alone.
TRIP_SIGMA = 0.05  # log-normal spread of the factor shared by distance and duration.
DURATION_SIGMA = 0.03  # extra spread of the duration alone.
CHUNK_ROWS = 50_000  # rows made and written at a time: memory stays flat with the requested size.

Columns = Dict[str, np.ndarray]  # column name -> object array of CSV cells ('' is missing).


def sample_path() -> Path:
  """The shipped sample CSV (inside the installed tfx package)."""
  from pipeline import config  # pylint: disable=g-import-not-at-top
  return Path(config.shipped_taxi_data()) / SAMPLE_FILE


def read_csv(path: Path) -> Tuple[List[str], List[List[str]]]:
  """A CSV file's header and rows, every cell as text."""
  with open(path, newline='') as f:
    reader = csv.reader(f)
    return next(reader), list(reader)


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
  """Writes a header and rows as a CSV file (directories created); returns the path."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  return path


def to_columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> Columns:
  """Rows as one object array per column."""
  table = np.array(rows, dtype=object).reshape(len(rows), len(header))
  return {name: table[:, i] for i, name in enumerate(header)}


def to_float(cells: np.ndarray) -> np.ndarray:
  """CSV cells as floats; empty cells become NaN."""
  return np.array([float(c) if c != '' else np.nan for c in cells], dtype=np.float64)


def format_cells(values: np.ndarray, decimals: int) -> np.ndarray:
  """Floats as CSV cells with a fixed number of decimals (0: an integer); NaN becomes an empty cell."""
  pattern = f'{{:.{decimals}f}}'
  return np.array(['' if np.isnan(v) else pattern.format(v) for v in values], dtype=object)


def calendar_fields(timestamps: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """UTC hour (0-23), weekday (1 = Sunday ... 7 = Saturday) and month (1-12) of Unix timestamps, as in the sample."""
  moments = timestamps.astype('datetime64[s]')
  hours = (moments - moments.astype('datetime64[D]')).astype(np.int64) // 3600
  days = (moments.astype('datetime64[D]').astype(np.int64) + 4) % 7 + 1  # 1970-01-01 was a Thursday (5).
  months = moments.astype('datetime64[M]').astype(np.int64) % 12 + 1
  return hours, days, months


def jitter_timestamps(timestamps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Timestamps moved by a random whole number of 15-minute steps, at most three days, never below 0."""
  shifts = rng.integers(-MAX_SHIFT_STEPS, MAX_SHIFT_STEPS + 1, size=len(timestamps)) * TIME_GRID_SECONDS
  return np.maximum(timestamps + shifts, 0)


def lognormal(rng: np.random.Generator, sigma: float, size: int) -> np.ndarray:
  """Multiplicative noise factors around 1."""
  return rng.lognormal(mean=0.0, sigma=sigma, size=size)


def synthesize(source: Columns, n: int, rng: np.random.Generator) -> Columns:
  """n new rows: resampled source rows with jittered times and noisy prices, distances and durations.

  Multiplicative noise keeps zeros zero and everything non-negative; empty cells stay empty.
  """
  picks = rng.integers(0, len(source[TIMESTAMP]), size=n)
  rows = {name: cells[picks] for name, cells in source.items()}
  timestamps = jitter_timestamps(rows[TIMESTAMP].astype(np.int64), rng)
  hours, days, months = calendar_fields(timestamps)
  price, trip = lognormal(rng, PRICE_SIGMA, n), lognormal(rng, TRIP_SIGMA, n)
  rows[TIMESTAMP] = timestamps.astype(str).astype(object)
  rows[HOUR], rows[DAY], rows[MONTH] = (v.astype(str).astype(object) for v in (hours, days, months))
  rows[FARE] = format_cells(to_float(rows[FARE]) * price, 2)
  rows[TIPS] = format_cells(to_float(rows[TIPS]) * price * lognormal(rng, TIP_SIGMA, n), 2)
  rows[MILES] = format_cells(to_float(rows[MILES]) * trip, 2)
  rows[SECONDS] = format_cells(to_float(rows[SECONDS]) * trip * lognormal(rng, DURATION_SIGMA, n), 0)
  return rows


def split_evenly(total: int, parts: int) -> List[int]:
  """total split into parts sizes that differ by at most one, larger first."""
  base, extra = divmod(total, parts)
  return [base + (1 if i < extra else 0) for i in range(parts)]


def chunk_sizes(total: int, chunk: int = CHUNK_ROWS) -> Iterator[int]:
  """Sizes of the chunks that make up total rows."""
  for start in range(0, total, chunk):
    yield min(chunk, total - start)


def file_names(files: int) -> List[str]:
  """Output file names: part-00000-of-00003.csv ..."""
  return [f'part-{i:05d}-of-{files:05d}.csv' for i in range(files)]


def write_rows(path: Path, header: Sequence[str], source: Columns, n: int, rng: np.random.Generator) -> None:
  """Writes header and n synthesized rows to path, a chunk at a time."""
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    for size in chunk_sizes(n):
      rows = synthesize(source, size, rng)
      writer.writerows(zip(*(rows[name] for name in header)))


def generate(rows: int, out_dir: Path, seed: int = 0, files: int = 1,
             source: Optional[Tuple[List[str], List[List[str]]]] = None) -> List[Path]:
  """Writes rows taxi-like rows as files CSV files under out_dir; returns their paths.

  source is a (header, rows) table to resample (default: the shipped sample). The same arguments give the same
  bytes.
  """
  if rows < 1 or files < 1:
    raise ValueError(f'need at least one row and one file, got rows={rows} files={files}')
  header, source_rows = source or read_csv(sample_path())
  columns = to_columns(header, source_rows)
  rng = np.random.default_rng(seed)
  out_dir.mkdir(parents=True, exist_ok=True)
  paths = []
  for name, n in zip(file_names(files), split_evenly(rows, files)):
    if n:
      write_rows(out_dir / name, header, columns, n, rng)
      paths.append(out_dir / name)
  return paths


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
  """Command-line flags."""
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--rows', type=int, required=True, help='how many data rows to write in all')
  parser.add_argument('--out', type=Path, required=True, help='directory to write the CSV files into')
  parser.add_argument('--seed', type=int, default=0, help='random seed (default: %(default)s)')
  parser.add_argument('--files', type=int, default=1, help='how many CSV files to split the rows into')
  parser.add_argument('--source', type=Path, default=None,
                      help='CSV file to resample (default: the sample shipped in tfx)')
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Writes the files and prints what it wrote."""
  args = parse_args(argv)
  source = read_csv(args.source) if args.source else None
  for path in generate(args.rows, args.out, args.seed, args.files, source):
    print(f'{path} ({os.path.getsize(path):,} bytes)')
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
