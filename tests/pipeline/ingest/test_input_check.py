"""The CSV pre-flight check on small files."""
from conftest import taxi_rows, write_csv
from pipeline.ingest import csv_reading, input_check


def test_clean_sample_has_no_problems(tmp_path):
  header, rows = taxi_rows()
  assert input_check.check_data_root(str(write_csv(tmp_path / 'd' / 'a.csv', header, rows[:200]))) == []


def test_files_with_different_headers_are_named(tmp_path):
  header, rows = taxi_rows()
  write_csv(tmp_path / 'd' / 'a.csv', header, rows[:10])
  reordered = header[1:] + header[:1]
  write_csv(tmp_path / 'd' / 'b.csv', reordered, [r[1:] + r[:1] for r in rows[:10]])
  problems = input_check.check_data_root(str(tmp_path / 'd'))
  assert [p.file for p in problems] == [str(tmp_path / 'd' / 'b.csv')]
  assert "header differs from a.csv's" in str(problems[0])


def test_other_files_beside_the_csv_files_are_ignored(tmp_path):
  header, rows = taxi_rows()
  data_root = write_csv(tmp_path / 'd' / 'a.csv', header, rows[:10])
  (data_root / 'README.txt').write_text('not data')
  assert input_check.check_data_root(str(data_root)) == []


def test_integer_columns_reject_fractions(tmp_path):
  header, rows = taxi_rows()
  hour = header.index('trip_start_hour')
  rows = [r[:hour] + ['7.5'] + r[hour + 1:] for r in rows[:4]]
  problems = input_check.check_data_root(str(write_csv(tmp_path / 'd' / 'a.csv', header, rows)))
  assert [str(p).split(': ', 1)[1] for p in problems] == ["expected an integer, found '7.5' (4 of 4 rows, 100.00 %)"]


def test_header_only_file(tmp_path):
  header, _ = taxi_rows()
  problems = input_check.check_data_root(str(write_csv(tmp_path / 'd' / 'a.csv', header, [])))
  assert 'header but no rows' in str(problems[0])


def test_span_folders_check_the_latest_span_only(tmp_path):
  header, rows = taxi_rows()
  write_csv(tmp_path / 'd' / 'span-1' / 'a.csv', header[1:], [r[1:] for r in rows[:10]])  # old and broken.
  write_csv(tmp_path / 'd' / 'span-2' / 'a.csv', header, rows[:10])
  assert input_check.check_data_root(str(tmp_path / 'd')) == []
  problems = input_check.check_data_root(str(tmp_path / 'd'), spans=[1, 2])
  assert (str(tmp_path / 'd' / 'span-1' / 'a.csv'), header[0]) in [(p.file, p.column) for p in problems]
  assert 'required column is missing' in str(problems[0])


def test_span_layout_problems_are_named(tmp_path):
  header, rows = taxi_rows()
  write_csv(tmp_path / 'd' / 'span-1' / 'a.csv', header, rows[:10])
  write_csv(tmp_path / 'd' / 'loose.csv', header, rows[:10])
  write_csv(tmp_path / 'd' / 'span-02' / 'a.csv', header, rows[:10])
  problems = [str(p) for p in input_check.check_data_root(str(tmp_path / 'd'))]
  assert any('span-02: not read as a span' in p and 'leading zeros' in p for p in problems), problems
  assert any('holds both *.csv files and span-N/ folders' in p for p in problems), problems


def test_an_empty_latest_span_is_named(tmp_path):
  header, rows = taxi_rows()
  write_csv(tmp_path / 'd' / 'span-1' / 'a.csv', header, rows[:10])
  (tmp_path / 'd' / 'span-2').mkdir()
  assert [str(p) for p in input_check.check_data_root(str(tmp_path / 'd'))] == [
      f'{tmp_path / "d" / "span-2"}: holds no *.csv file']


def test_text_that_is_not_utf8_is_named_though_arrow_reads_the_file(tmp_path):
  header, rows = taxi_rows()
  path = write_csv(tmp_path / 'd' / 'a.csv', header, rows[:20]) / 'a.csv'
  path.write_bytes(path.read_bytes().replace(b'Cash', b'Ca\xffsh', 1))
  problems = input_check.check_data_root(str(path.parent))
  assert len(problems) == 1 and 'not UTF-8 text' in str(problems[0])


def test_a_well_formed_file_is_read_by_arrow_as_the_declared_columns(tmp_path):
  header, rows = taxi_rows()
  path = write_csv(tmp_path / 'd' / 'a.csv', header, rows[:300]) / 'a.csv'
  assert csv_reading.declared_rows(str(path), header) == 300
  path.write_text(path.read_text().replace('\n', ',extra\n', 2))  # the header and one ragged row
  assert csv_reading.declared_rows(str(path), header + ['extra']) is None


def with_cell(rows, header, column, value, every=1):
  """Rows with `column` set to `value` in every `every`-th row."""
  i = header.index(column)
  return [r[:i] + [value] + r[i + 1:] if k % every == 0 else r for k, r in enumerate(rows)]


def arrow_reads(cell: str, arrow_type) -> bool:
  """Whether ExampleGen's reader reads a cell as a finite value of the type."""
  import io  # pylint: disable=g-import-not-at-top
  import math  # pylint: disable=g-import-not-at-top
  from pyarrow import csv as pa_csv  # pylint: disable=g-import-not-at-top
  try:
    value = pa_csv.read_csv(io.BytesIO(f'a\n"{cell}"\n'.encode()), convert_options=pa_csv.ConvertOptions(
        column_types={'a': arrow_type}, null_values=[''])).column(0)[0].as_py()
  except ValueError:
    return False
  return not isinstance(value, float) or math.isfinite(value)


CELLS = ['5', '-5', '05', ' 5 ', '+5', '1_000', '1e3', '5.0', '1.5', '-1.5', '.5', '5.', '1E-3', '2e+2', '+1.5',
         '1_000.5', '0x10', '1,5', 'nan', 'NaN', 'inf', '-inf', 'Infinity', 'twelve', '--1', '1.2.3']


def test_the_check_accepts_a_number_exactly_when_examplegens_reader_does():
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  for raw_type, arrow_type in ((input_check.RawType.INT, pa.int64()), (input_check.RawType.FLOAT, pa.float64())):
    for cell in CELLS:
      assert (input_check.cell_problem(cell, raw_type) is None) == arrow_reads(cell, arrow_type), (raw_type, cell)


def test_numbers_the_reader_refuses_and_non_finite_ones_are_named_with_line_and_count(tmp_path):
  header, rows = taxi_rows()
  rows = with_cell(with_cell(rows[:100], header, 'trip_start_hour', '+5', 10), header, 'fare', 'inf', 25)
  rows = with_cell(rows, header, 'trip_miles', 'nan', 50)
  problems = input_check.check_data_root(str(write_csv(tmp_path / 'd' / 'a.csv', header, rows)))
  assert sorted(str(p).split(' line ', 1)[1] for p in problems) == [
      "2, column 'fare': expected a finite number, found 'inf' (4 of 100 rows, 4.00 %)",
      "2, column 'trip_miles': expected a finite number, found 'nan' (2 of 100 rows, 2.00 %)",
      "2, column 'trip_start_hour': expected an integer, found '+5' (10 of 100 rows, 10.00 %)"]


def test_a_byte_order_mark_and_crlf_line_ends_read_like_the_plain_file(tmp_path):
  from pipeline.ingest import example_gen  # pylint: disable=g-import-not-at-top
  header, rows = taxi_rows()
  plain = write_csv(tmp_path / 'plain' / 'a.csv', header, rows[:300]) / 'a.csv'
  spreadsheet = tmp_path / 'spreadsheet' / 'a.csv'
  spreadsheet.parent.mkdir()
  spreadsheet.write_bytes(b'\xef\xbb\xbf' + plain.read_bytes().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n'))
  assert spreadsheet.read_bytes().startswith(b'\xef\xbb\xbfpickup') and b'\r\n' in spreadsheet.read_bytes()
  assert input_check.check_data_root(str(spreadsheet.parent)) == []
  assert csv_reading.header(str(spreadsheet)) == header
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def examples(path):  # in canonical form: the encoder's feature order is not fixed
    return [tf.train.Example.FromString(e).SerializeToString(deterministic=True)
            for e in example_gen.serialized_examples(str(path))]

  assert examples(spreadsheet) == examples(plain)
  schema = __import__('tensorflow_data_validation').load_schema_text(str(input_check.features.__file__).replace(
      'preprocessing/features.py', 'schema/schema.pbtxt'))
  broken = with_cell(rows[:300], header, 'trip_start_hour', '99', 30)
  write_csv(tmp_path / 'plain2' / 'a.csv', header, broken)
  crlf = tmp_path / 'spreadsheet2' / 'a.csv'
  crlf.parent.mkdir()
  crlf.write_bytes(b'\xef\xbb\xbf' + (tmp_path / 'plain2' / 'a.csv').read_bytes().replace(b'\r\n', b'\n').replace(
      b'\n', b'\r\n'))
  found = [str(p).split('a.csv', 1)[1] for p in input_check.schema_violations(str(crlf.parent), schema,
                                                                              ['trip_start_hour'])]
  assert found == [str(p).split('a.csv', 1)[1] for p in input_check.schema_violations(
      str(tmp_path / 'plain2'), schema, ['trip_start_hour'])] and found


def serving_rows(rows=20):
  header, body = taxi_rows()
  tips = header.index('tips')
  return header[:tips] + header[tips + 1:], [r[:tips] + r[tips + 1:] for r in body[:rows]]


def test_rows_to_score_have_the_serving_columns(tmp_path):
  header, rows = serving_rows()
  assert input_check.check_data_root(str(write_csv(tmp_path / 'd' / 'a.csv', header, rows)), serving=True) == []
  problems = [str(p) for p in input_check.check_data_root(str(tmp_path / 'd'))]
  assert any("column 'tips': the label source column is missing" in p for p in problems)


def test_rows_to_score_with_the_label_source_or_a_missing_column_are_refused(tmp_path):
  header, rows = taxi_rows()
  problems = [str(p) for p in input_check.check_data_root(
      str(write_csv(tmp_path / 'd' / 'a.csv', header, rows[:20])), serving=True)]
  assert problems == [f"{tmp_path / 'd' / 'a.csv'} line 1, column 'tips': the label source column is not a serving "
                      'column: leave it out of the data to score (keep the labels elsewhere)']
  header, rows = serving_rows()
  fare = header.index('fare')
  problems = [str(p) for p in input_check.check_data_root(str(write_csv(
      tmp_path / 'e' / 'a.csv', header[:fare] + header[fare + 1:], [r[:fare] + r[fare + 1:] for r in rows])),
      serving=True)]
  assert len(problems) == 1 and "column 'fare': required column is missing" in problems[0]
  assert input_check.format_problems('DIR', [], '--inference-data').startswith('error: --inference-data DIR ')
