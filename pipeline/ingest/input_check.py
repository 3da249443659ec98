"""Fails fast on CSV input that CsvExampleGen cannot read as the declared columns, naming file, line and column.

Schema-level problems (unseen categories, out-of-range values, mostly missing columns) are not checked here:
ExampleValidator and the data gate report them as a table.
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import os
import re
from typing import Dict, Iterable, List, Optional, Tuple

from pipeline.ingest import csv_reading
from pipeline.ingest import spans as spans_lib
from pipeline.ingest.spans import CSV_PATTERN, csv_files
from preprocessing import features
from preprocessing.features import RawType


@dataclasses.dataclass
class Problem:
  """One kind of defect in one file, with where it first occurs and how often."""
  file: str
  what: str
  line: Optional[int] = None
  column: Optional[str] = None
  count: int = 1
  rows: int = 0

  def __str__(self) -> str:
    where = self.file + (f' line {self.line}' if self.line else '')
    column = f", column '{self.column}'" if self.column else ''
    share = f' ({self.count} of {self.rows} rows, {100.0 * self.count / self.rows:.2f} %)' if self.rows else ''
    return f'{where}{column}: {self.what}{share}'


def layout_problems(data_root: str, spans: List[int]) -> List[Problem]:
  """A data root that mixes loose CSV files with span folders, misnamed span folders, empty span folders."""
  problems = [Problem(os.path.join(data_root, name), 'not read as a span: name span folders span-N with N an '
                                                     'integer without leading zeros (span-1, span-2, ...)')
              for name in spans_lib.misnamed_span_folders(data_root)]
  available = spans_lib.span_numbers(data_root)
  if available and glob.glob(os.path.join(data_root, CSV_PATTERN)):
    problems.append(Problem(data_root, f'holds both {CSV_PATTERN} files and span-N/ folders; only the latest span '
                                       'would be read: move the loose CSV files into a span folder'))
  problems += [Problem(spans_lib.span_dir(data_root, span), 'span folder does not exist (spans here: '
                                                            f'{", ".join(map(str, available)) or "none"})')
               for span in spans if span not in available]
  return problems


def header_problems(path: str, header: List[str], serving: bool = False) -> List[Problem]:
  """Missing, unexpected and duplicated columns of one file's header; serving: the columns a model scores (the
  declared ones without the label source, preprocessing/features.py's serving_columns)."""
  declared = list(features.serving_columns()) if serving else [f.name for f in features.FEATURES]
  problems = []
  for name in declared:
    if name not in header:
      why = (f'the label source column is missing: training data needs it to compute {features.LABEL_KEY}'
             if features.feature(name).kind == features.Kind.LABEL_SOURCE else 'required column is missing')
      problems.append(Problem(path, f'{why} (header has: {", ".join(header)})', line=1, column=name))
  for name in header:
    if serving and name in {f.name for f in features.by_kind(features.Kind.LABEL_SOURCE)}:
      problems.append(Problem(path, 'the label source column is not a serving column: leave it out of the data to '
                                    'score (keep the labels elsewhere)', line=1, column=name))
    elif name not in declared:
      problems.append(Problem(path, 'unexpected column, not declared in preprocessing/features.py '
                                    'and schema/schema.pbtxt', line=1, column=name))
  for name in sorted({n for n in header if header.count(n) > 1}):
    problems.append(Problem(path, 'column appears more than once in the header', line=1, column=name))
  return problems


NUMERIC = (RawType.INT, RawType.FLOAT)
NON_FINITE = re.compile(r'\s*-?(nan|inf|infinity)\s*', re.IGNORECASE)


def cell_problem(cell: str, raw_type: RawType) -> Optional[str]:
  """What is wrong with a non-empty CSV cell of a declared raw type, or None: a cell passes exactly when
  ExampleGen's reader (Arrow) reads it (no '+' sign or '_' between digits; hexadecimal integers do pass) as a finite
  number."""
  if raw_type == RawType.INT and not csv_reading.INT_CELL.fullmatch(cell):
    return 'expected an integer'
  if raw_type == RawType.FLOAT and not csv_reading.FLOAT_CELL.fullmatch(cell):
    return 'expected a finite number' if NON_FINITE.fullmatch(cell) else 'expected a number'
  return None


def row_problems(path: str, header: List[str], rows: Iterable[Tuple[int, List[str]]]) -> Tuple[List[Problem], int]:
  """Ragged rows and cells of the wrong type, each kind counted once per column; and the row count."""
  typed = [(i, name, features.feature(name).raw_type) for i, name in enumerate(header)
           if name in {f.name for f in features.FEATURES}
           and features.feature(name).raw_type in NUMERIC]
  found: Dict[Tuple[str, Optional[str]], Problem] = {}
  count = 0
  for line, row in rows:
    count += 1
    if len(row) != len(header):
      key = ('ragged', None)
      if key not in found:
        found[key] = Problem(path, f'expected {len(header)} fields, found {len(row)}', line=line, count=0)
      found[key].count += 1
      continue
    for i, name, raw_type in typed:
      cell = row[i]
      what = cell_problem(cell, raw_type) if cell else None
      if what:
        key = (what, name)
        if key not in found:
          found[key] = Problem(path, f'{what}, found {cell!r}', line=line, column=name, count=0)
        found[key].count += 1
  for problem in found.values():
    problem.rows = count
  return list(found.values()), count


def read_header(path: str) -> Optional[List[str]]:
  """The first CSV record of a file, or None when it has none or is unreadable."""
  try:
    with open(path, newline='', encoding=csv_reading.TEXT_ENCODING) as f:
      return next(csv.reader(f), None)
  except (csv.Error, UnicodeDecodeError):
    return None


def check_file(path: str, serving: bool = False) -> List[Problem]:
  """Every problem of one CSV file, or an empty list; serving: a file of rows to score (see header_problems).

  Arrow reads a well-formed file as the declared columns in a fraction of the time that the line-by-line scan
  takes (200 MB: 1 s against 16 s); the scan runs when Arrow cannot, and finds and counts what is wrong.
  """
  first_row = read_header(path)
  if first_row and not header_problems(path, first_row, serving) and csv_reading.declared_rows(path, first_row):
    return []
  try:
    with open(path, newline='', encoding=csv_reading.TEXT_ENCODING) as f:
      reader = csv.reader(f, strict=True)
      header = next(reader, None)
      if header is None:
        return [Problem(path, 'file is empty: no header and no rows')]
      problems = header_problems(path, header, serving)
      if problems:
        return problems
      problems, rows = row_problems(path, header, ((reader.line_num, row) for row in reader))
      if rows == 0:
        return [Problem(path, 'file has a header but no rows')]
      return problems
  except csv.Error as e:
    return [Problem(path, f'unparsable CSV: {e}', line=reader.line_num)]
  except UnicodeDecodeError as e:
    return [Problem(path, f'not UTF-8 text: {e.reason} at byte {e.start}')]


def check_data_root(data_root: str, spans: Optional[List[int]] = None, serving: bool = False) -> List[Problem]:
  """Every problem of a data root, or an empty list when CsvExampleGen can read it as the declared columns.

  With span folders, the files of the given spans are checked (default: the latest span, the one a run ingests).
  serving: a directory of rows to score, with the serving columns (no label source).
  """
  if not os.path.exists(data_root):
    return [Problem(data_root, 'directory does not exist')]
  if not os.path.isdir(data_root):
    return [Problem(data_root, 'is not a directory: pass the directory that holds the CSV files')]
  available = spans_lib.span_numbers(data_root)
  spans = spans or available[-1:]
  problems = layout_problems(data_root, spans)
  if problems:
    return problems
  folders = [spans_lib.span_dir(data_root, span) for span in spans] or [data_root]
  files = []
  for folder, span in zip(folders, spans or [None]):
    found = csv_files(data_root, span)
    if not found:
      problems.append(Problem(folder, f'holds no {CSV_PATTERN} file'))
    files += found
  problems += [p for path in files for p in check_file(path, serving)]
  first = files[0] if files else ''
  for path in files[1:]:
    if read_header(path) and read_header(first) and read_header(path) != read_header(first):
      problems.append(Problem(path, f'header differs from {os.path.relpath(first, data_root)}\'s: every file must '
                                    'have the same columns in the same order', line=1))
  return problems


def format_problems(data_root: str, problems: List[Problem], flag: str = '--data-root') -> str:
  """The error printed before any component runs, naming the flag that gave the directory."""
  lines = [f'error: {flag} {data_root} cannot be used; nothing was run and nothing was pushed.']
  lines += [f'  {p}' for p in problems]
  return '\n'.join(lines)


@dataclasses.dataclass(frozen=True)
class Constraint:
  """What the curated schema allows for one column, in the terms of a CSV cell."""
  column: str
  low: Optional[float] = None
  high: Optional[float] = None
  values: Optional[frozenset] = None
  min_presence: float = 0.0

  def violation(self, cell: str) -> Optional[str]:
    """What is wrong with a non-empty cell, or None."""
    if self.values is not None and cell not in self.values:
      return f'expected one of the {len(self.values)} values of its schema domain'
    if self.low is not None or self.high is not None:
      try:
        value = float(cell)
      except ValueError:
        return 'expected a number'
      if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
        low = '-inf' if self.low is None else f'{self.low:g}'
        high = 'inf' if self.high is None else f'{self.high:g}'
        return f'expected a value in [{low}, {high}]'
    return None


def constraints(schema, columns: Iterable[str]) -> List[Constraint]:
  """The checkable constraints of some columns of a tensorflow_metadata Schema."""
  domains = {d.name: frozenset(d.value) for d in schema.string_domain}
  found = []
  for feature in schema.feature:
    if feature.name not in columns:
      continue
    domain = feature.int_domain if feature.HasField('int_domain') else (
        feature.float_domain if feature.HasField('float_domain') else None)
    found.append(Constraint(
        column=feature.name,
        low=domain.min if domain is not None and domain.HasField('min') else None,
        high=domain.max if domain is not None and domain.HasField('max') else None,
        values=domains.get(feature.domain) if feature.domain else (
            frozenset(feature.string_domain.value) if feature.HasField('string_domain') else None),
        min_presence=feature.presence.min_fraction))
  return found


def schema_violations(data_root: str, schema, columns: Iterable[str]) -> List[Problem]:
  """Where the CSV rows of a data root (its latest span) break the schema for the given columns."""
  return file_schema_violations(csv_files(data_root), schema, columns)


def file_schema_violations(files: Iterable[str], schema, columns: Iterable[str]) -> List[Problem]:
  """Where the rows of CSV files break the schema for the given columns: file, first line, value, count and share."""
  columns = set(columns)
  problems = []
  for path in files:
    with open(path, newline='', encoding=csv_reading.TEXT_ENCODING) as f:
      reader = csv.reader(f)
      header = next(reader)
      checks = [(header.index(c.column), c) for c in constraints(schema, columns) if c.column in header]
      found: Dict[Tuple[str, str], Problem] = {}
      absent = {c.column: 0 for _, c in checks}
      rows = 0
      for row in reader:
        rows += 1
        for i, constraint in checks:
          cell = row[i] if i < len(row) else ''
          if not cell:
            absent[constraint.column] += 1
            continue
          what = constraint.violation(cell)
          if what:
            key = (constraint.column, what)
            if key not in found:
              found[key] = Problem(path, f'{what}, found {cell!r}', line=reader.line_num,
                                   column=constraint.column, count=0)
            found[key].count += 1
      for _, constraint in checks:
        present = 1 - absent[constraint.column] / rows if rows else 0.0
        if present < constraint.min_presence:
          found[(constraint.column, 'presence')] = Problem(
              path, f'present in {100 * present:.1f} % of rows, the schema requires at least '
                    f'{100 * constraint.min_presence:g} %', column=constraint.column,
              count=absent[constraint.column])
      for problem in found.values():
        problem.rows = rows
      problems.extend(found.values())
  return problems
