"""The on-disk shuffle's parts: TFRecord framing, the ordered thread pool, the shuffled gzipped splits."""
import gzip
import threading

import numpy as np
import pytest
import tensorflow as tf

from pipeline.ingest import disk_shuffle


def tensorflow_written(path, records):
  """The bytes of an uncompressed TFRecord file TensorFlow writes with these records."""
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record)
  return path.read_bytes()


@pytest.mark.parametrize('records', [[], [b''], [b'x'], [bytes(range(256)) * 300, b'', b'\x00' * 7] * 3])
def test_records_are_framed_byte_for_byte_as_tensorflow_frames_them(tmp_path, records):
  framed, sizes = disk_shuffle.framed_tfrecords(records)

  assert framed == tensorflow_written(tmp_path / 'tf', records)
  assert sizes.tolist() == [len(r) + disk_shuffle.FRAME_BYTES for r in records]


def test_the_ordered_map_keeps_the_items_order_and_runs_on_several_threads():
  threads = set()

  def square(n):
    threads.add(threading.get_ident())
    threading.Event().wait(0.001 * (n % 3))  # later items finish first
    return n * n

  assert list(disk_shuffle.ordered_map(square, range(40), threads=3)) == [n * n for n in range(40)]
  assert len(threads) > 1


def test_the_ordered_map_raises_the_first_failure_in_the_items_order():
  def fail_on_five(n):
    if n == 5:
      raise ValueError('item 5')
    return n

  results = []
  with pytest.raises(ValueError, match='item 5'):
    for result in disk_shuffle.ordered_map(fail_on_five, range(20), threads=2):
      results.append(result)
  assert results == [0, 1, 2, 3, 4]


def blocks_of(records, splits, block_rows):
  """The records cut into blocks, each record to its split and to a bucket from its number."""
  for start in range(0, len(records), block_rows):
    rows = range(start, min(start + block_rows, len(records)))
    yield disk_shuffle.bucketed([records[i] for i in rows], np.array([splits[i] for i in rows]),
                                np.array([i * 7 % disk_shuffle.SHUFFLE_BUCKETS for i in rows]))


def split_files(tmp_path, name, records, splits, block_rows):
  split_dirs = [str(tmp_path / name / 'train'), str(tmp_path / name / 'eval')]
  disk_shuffle.write_shuffled_splits(blocks_of(records, splits, block_rows), split_dirs)
  return [tmp_path / name / split / disk_shuffle.OUTPUT_FILE for split in ('train', 'eval')]


def test_each_split_holds_its_records_shuffled_the_same_way_however_they_come_in_blocks(tmp_path):
  records = [b'record %d ' % i + b'x' * (i % 50) for i in range(3000)]
  splits = [int(i % 5 == 0) for i in range(3000)]
  in_one_block = split_files(tmp_path, 'one', records, splits, block_rows=3000)
  in_many_blocks = split_files(tmp_path, 'many', records, splits, block_rows=128)

  for split, path in enumerate(in_one_block):
    read = list(tf.data.TFRecordDataset(str(path), compression_type='GZIP').as_numpy_iterator())
    assert sorted(read) == sorted(r for r, s in zip(records, splits) if s == split)
    assert read != [r for r, s in zip(records, splits) if s == split]  # shuffled
    assert gzip.decompress(path.read_bytes()) == gzip.decompress(in_many_blocks[split].read_bytes())
  train = [int(r.split()[1]) for r in tf.data.TFRecordDataset(str(in_one_block[0]), compression_type='GZIP')
           .as_numpy_iterator()]
  assert max(train[:len(train) // 10]) > 2500 and min(train[:len(train) // 10]) < 500  # from all over the input


def test_a_split_without_records_is_an_empty_gzipped_file(tmp_path):
  train, evaluation = split_files(tmp_path, 'out', [b'a', b'b'], [0, 0], block_rows=1)

  assert sorted(tf.data.TFRecordDataset(str(train), compression_type='GZIP').as_numpy_iterator()) == [b'a', b'b']
  assert gzip.decompress(evaluation.read_bytes()) == b''
