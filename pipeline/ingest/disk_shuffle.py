"""The on-disk shuffle CsvExampleGen's executor writes its splits with on Beam's DirectRunner (see example_gen.py).

Each serialized example goes to one of SHUFFLE_BUCKETS temporary TFRecord files of its split, the bucket chosen by
the caller from the row's hash. Then each bucket file in turn is read whole, its records permuted as TensorFlow framed
them (length, CRCs and bytes, so nothing is encoded twice), and appended to the split's gzipped TFRecord file,
compressed by zlib on a thread of its own while the next bucket is read. Memory holds a few blocks of rows, then a
few buckets, whatever the data's size; the order is the same on every run over the same blocks.
"""
from __future__ import annotations

import collections
import os
import shutil
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Callable, Dict, Iterable, Iterator, List, NamedTuple, Sequence, Tuple, TypeVar

import google_crc32c
import numpy as np
from tfx.dsl.io import fileio

SHUFFLE_BUCKETS = 64  # the on-disk shuffle holds one 64th of a split in memory at a time.
# zlib's fastest level: at its default (6), ExampleGen took 36.5 s instead of 26.8 s at 100x, for files a fifth smaller.
GZIP_LEVEL = 1
GZIP_WINDOW_BITS = 16 + zlib.MAX_WBITS  # a gzip stream, as TensorFlow's GZIP TFRecord files are.
OUTPUT_FILE = 'data_tfrecord-00000-of-00001.gz'
FRAME_BYTES = 16  # around each TFRecord's bytes: its length (8 bytes) and two masked CRC32Cs (4 bytes each).

Item = TypeVar('Item')
Result = TypeVar('Result')


def ordered_map(function: Callable[[Item], Result], items: Iterable[Item], threads: int) -> Iterator[Result]:
  """function(item) for each item, run on `threads` threads and yielded in the items' order, with at most twice as
  many items in flight as threads. Worth it where function lets go of the GIL (tfx_bsl's encoder, zlib)."""
  with ThreadPoolExecutor(threads) as pool:
    pending: collections.deque = collections.deque()
    for item in items:
      pending.append(pool.submit(function, item))
      if len(pending) >= 2 * threads:
        yield pending.popleft().result()
    while pending:
      yield pending.popleft().result()


def masked(crcs: np.ndarray) -> np.ndarray:
  """TFRecord's masking of CRC32Cs: rotated right by 15 bits, plus a constant."""
  crcs = crcs.astype(np.uint64)
  return ((((crcs >> np.uint64(15)) | (crcs << np.uint64(17))) + np.uint64(0xA282EAD8)) & np.uint64(0xFFFFFFFF))


def framed_tfrecords(records: Sequence[bytes]) -> Tuple[bytes, np.ndarray]:
  """The records framed as in a TFRecord file (length, its masked CRC32C, the bytes, their masked CRC32C), as one
  byte string, and each framed record's size: tf.io.TFRecordWriter's bytes, without a call into it per record."""
  sizes = np.fromiter(map(len, records), np.uint64, len(records))
  lengths, length_index = np.unique(sizes, return_inverse=True)  # a few dozen distinct lengths: one CRC each
  length_crcs = np.array([google_crc32c.value(length.to_bytes(8, 'little')) for length in lengths.tolist()],
                         np.uint64)
  frames = np.empty((len(records), 4), '<u4')  # the length as two words, then the two masked CRCs
  frames[:, :2] = sizes.astype('<u8').view('<u4').reshape(-1, 2)
  frames[:, 2] = masked(length_crcs[length_index])
  frames[:, 3] = masked(np.fromiter(map(google_crc32c.value, records), np.uint64, len(records)))
  frame_bytes = frames.tobytes()
  parts: List[bytes] = [b''] * (3 * len(records))
  parts[0::3] = [frame_bytes[start:start + 12] for start in range(0, len(frame_bytes), FRAME_BYTES)]
  parts[1::3] = records
  parts[2::3] = [frame_bytes[start:start + 4] for start in range(12, len(frame_bytes), FRAME_BYTES)]
  return b''.join(parts), sizes.astype(np.int64) + FRAME_BYTES


class BucketedRecords(NamedTuple):
  """A block's examples framed as TFRecords, ordered by bucket key (split index x SHUFFLE_BUCKETS + bucket), stable."""
  tfrecords: bytes
  keys: np.ndarray  # each record's key, ascending
  sizes: np.ndarray  # each framed record's size in bytes


def bucketed(examples: Sequence[bytes], splits: np.ndarray, buckets: np.ndarray) -> BucketedRecords:
  """A block's serialized examples framed and ordered by key, given each one's split index and shuffle bucket."""
  keys = splits.astype(np.int64) * SHUFFLE_BUCKETS + buckets.astype(np.int64)
  order = np.argsort(keys, kind='stable')
  framed, sizes = framed_tfrecords(list(map(examples.__getitem__, order.tolist())))
  return BucketedRecords(framed, keys[order], sizes)


class ShuffleBuckets:
  """Temporary TFRecord files, one per bucket key, and the framed size of each record in each, in order."""

  def __init__(self, temp_dir: str):
    self._temp_dir = temp_dir
    self._files: Dict[int, BinaryIO] = {}
    self._sizes: Dict[int, List[np.ndarray]] = collections.defaultdict(list)

  def _path(self, key: int) -> str:
    return os.path.join(self._temp_dir, str(key))

  def add(self, block: BucketedRecords) -> None:
    """Appends each group of a block's records to the file of its key."""
    starts = np.flatnonzero(np.diff(block.keys, prepend=-1))
    ends = np.append(starts[1:], len(block.keys))
    byte_ends = np.cumsum(block.sizes)
    records = memoryview(block.tfrecords)
    for start, end in zip(starts.tolist(), ends.tolist()):
      key = int(block.keys[start])
      if key not in self._files:
        self._files[key] = open(self._path(key), 'wb')  # pylint: disable=consider-using-with
      first_byte = int(byte_ends[start - 1]) if start else 0
      self._files[key].write(records[first_byte:int(byte_ends[end - 1])])
      self._sizes[key].append(block.sizes[start:end].astype(np.uint32))  # 4 bytes a row: 60 MB at 15 M rows

  def close(self) -> None:
    for file in self._files.values():
      file.close()

  def shuffled_records(self, split: int) -> Iterator[bytes]:
    """Each non-empty bucket of a split in turn: its TFRecords, framed, in an order permuted by the bucket's number."""
    for bucket in range(SHUFFLE_BUCKETS):
      key = split * SHUFFLE_BUCKETS + bucket
      if key not in self._files:
        continue
      with open(self._path(key), 'rb') as f:
        records = f.read()
      os.remove(self._path(key))
      sizes = np.concatenate(self._sizes.pop(key)).astype(np.int64)
      ends = np.cumsum(sizes)
      starts = ends - sizes
      order = np.random.default_rng(bucket).permutation(len(ends))
      yield b''.join([records[start:end] for start, end in zip(starts[order].tolist(), ends[order].tolist())])


def write_gzipped(path: str, chunks: Iterable[bytes]) -> None:
  """Writes the chunks, in order, as one gzip stream at GZIP_LEVEL; each is compressed while the next is made."""
  compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WINDOW_BITS)
  with fileio.open(path, 'wb') as out:
    for compressed in ordered_map(compressor.compress, chunks, threads=1):
      out.write(compressed)
    out.write(compressor.flush())


def write_shuffled_splits(blocks: Iterable[BucketedRecords], split_dirs: Sequence[str]) -> None:
  """Writes each block's examples to the file OUTPUT_FILE of their split's directory, shuffled by bucket."""
  temp_dir = tempfile.mkdtemp(prefix='example_gen_shuffle_')
  try:
    buckets = ShuffleBuckets(temp_dir)
    for block in blocks:
      buckets.add(block)
    buckets.close()
    for split, split_dir in enumerate(split_dirs):
      fileio.makedirs(split_dir)
      write_gzipped(os.path.join(split_dir, OUTPUT_FILE), buckets.shuffled_records(split))
  finally:
    shutil.rmtree(temp_dir, ignore_errors=True)
