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
