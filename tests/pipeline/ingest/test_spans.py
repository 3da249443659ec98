"""Span folders under a data root."""
from pipeline.ingest import spans


def test_span_numbers_sort_numerically_and_ignore_other_entries(tmp_path):
  for name in ('span-10', 'span-2', 'span-1', 'span-x', 'span-03', 'notes'):
    (tmp_path / name).mkdir()
  (tmp_path / 'span-7').write_text('a file, not a folder')
  assert spans.span_numbers(str(tmp_path)) == [1, 2, 10]
  assert spans.misnamed_span_folders(str(tmp_path)) == ['span-03']
  assert spans.input_pattern(str(tmp_path)) == 'span-{SPAN}/*.csv'


def test_without_span_folders_every_csv_is_read(tmp_path):
  assert spans.span_numbers(str(tmp_path)) == []
  assert spans.input_pattern(str(tmp_path)) == '*.csv'
  assert spans.span_numbers(str(tmp_path / 'missing')) == []


def test_window_takes_the_newest_spans():
  assert spans.window_spans([3, 1, 2, 5], 2) == [3, 5]
  assert spans.window_spans([4], 3) == [4]
  assert spans.window_spans([1, 2], 0) == []


def test_csv_files_are_those_of_the_latest_span_and_their_rows_are_estimated(tmp_path):
  for span, rows in ((1, 10), (2, 3000)):
    (tmp_path / f'span-{span}').mkdir()
    (tmp_path / f'span-{span}' / 'data.csv').write_text('a,b\n' + '12,text\n' * rows)
  (tmp_path / 'span-2' / 'notes.txt').write_text('not data')
  latest = spans.csv_files(str(tmp_path))
  assert latest == [str(tmp_path / 'span-2' / 'data.csv')]
  assert spans.csv_files(str(tmp_path), span=1) == [str(tmp_path / 'span-1' / 'data.csv')]
  assert abs(spans.estimated_rows(latest, sample_bytes=1000) - 3001) <= 30
  assert spans.estimated_rows([]) == 0
