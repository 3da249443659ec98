"""objstore://: a tfx.dsl.io filesystem on a local directory that behaves like an object store (gs://).

Each object (file) appears whole or not at all, and a directory rename is a copy and a delete per object, as on
GCS. Every change is counted; the store can die before the n-th one (Killed, as a push killed at that point) and
calls its observers after each one, so a test sees every state a reader of the store could see.
"""
import glob
import io
import os
import shutil
import tempfile
from typing import Callable, List, Optional

from tfx.dsl.io import filesystem, filesystem_registry

SCHEME = 'objstore://'


class Killed(BaseException):
  """The pushing process died here: nothing after this change happens (no exception handler runs for it)."""


class ObjectStore:
  """The backing directory of objstore:// paths, its change counter, kill point and observers."""

  def __init__(self, root: str):
    self.root = root
    self.changes = 0
    self.kill_at: Optional[int] = None  # the change (counted from 1) before which the process dies
    self.observers: List[Callable[[], None]] = []

  def local(self, path: str) -> str:
    """The backing file of an objstore:// path."""
    return os.path.join(self.root, str(path)[len(SCHEME):])

  def change(self, apply: Callable[[], None]) -> None:
    """Applies one change, unless the process dies before it, then shows the new state to every observer."""
    self.changes += 1
    if self.kill_at is not None and self.changes >= self.kill_at:
      raise Killed(f'killed before change {self.changes}')
    apply()
    for observe in self.observers:
      observe()

  def put(self, path: str, data: bytes) -> None:
    """Writes one object whole (a new file moved into place)."""
    target = self.local(path)

    def apply() -> None:
      os.makedirs(os.path.dirname(target), exist_ok=True)
      handle, temporary = tempfile.mkstemp(dir=self.root, prefix='.upload-')
      with os.fdopen(handle, 'wb') as f:
        f.write(data)
      os.replace(temporary, target)
    self.change(apply)


STORE: Optional[ObjectStore] = None  # set by the object_store fixture


def store() -> ObjectStore:
  """The store that objstore:// paths are in now."""
  assert STORE is not None, 'objstore:// is used outside the object_store fixture'
  return STORE


class ObjectWriter(io.BytesIO):
  """An object being uploaded: it appears in the store when closed, whole."""

  def __init__(self, path: str, text: bool):
    super().__init__()
    self.path, self.text = path, text

  def write(self, data) -> int:
    return super().write(data.encode() if self.text else data)

  def close(self) -> None:
    if not self.closed:
      data = self.getvalue()
      super().close()
      store().put(self.path, data)


def local_files(directory: str) -> List[str]:
  """Every file under a local directory, sorted."""
  return sorted(os.path.join(d, f) for d, _, files in os.walk(directory) for f in files)


class ObjectStoreFilesystem(filesystem.Filesystem):
  """tfx.dsl.io's view of the store: what TFX's GCS plugin offers, with GCS's object semantics."""

  SUPPORTED_SCHEMES = [SCHEME]

  @staticmethod
  def open(name, mode='r'):
    if mode in ('w', 'wb'):
      return ObjectWriter(name, text=mode == 'w')
    if mode not in ('r', 'rb'):
      raise NotImplementedError(f'mode {mode} on an object store')
    if not os.path.isfile(store().local(name)):
      raise filesystem.NotFoundError(name)
    return open(store().local(name), mode)  # pylint: disable=unspecified-encoding

  @staticmethod
  def copy(src, dst, overwrite=False):
    if not overwrite and os.path.exists(store().local(dst)):
      raise OSError(f'{dst} exists')
    with open(store().local(src), 'rb') as f:
      store().put(dst, f.read())

  @staticmethod
  def exists(path):
    return os.path.exists(store().local(path))

  @staticmethod
  def glob(pattern):
    return [SCHEME + os.path.relpath(p, store().root) for p in glob.glob(store().local(pattern))]

  @staticmethod
  def isdir(path):
    return os.path.isdir(store().local(path))

  @staticmethod
  def listdir(path):
    local = store().local(path)
    if not os.path.isdir(local):
      raise filesystem.NotFoundError(path)
    return [name + '/' if os.path.isdir(os.path.join(local, name)) else name for name in os.listdir(local)]

  @staticmethod
  def makedirs(path):
    if not os.path.isdir(store().local(path)):
      store().change(lambda: os.makedirs(store().local(path), exist_ok=True))

  @staticmethod
  def mkdir(path):
    ObjectStoreFilesystem.makedirs(path)

  @staticmethod
  def remove(path):
    if not os.path.isfile(store().local(path)):
      raise filesystem.NotFoundError(path)
    store().change(lambda: os.remove(store().local(path)))

  @staticmethod
  def rename(src, dst, overwrite=False):
    source, target = store().local(src), store().local(dst)
    if not overwrite and os.path.exists(target):
      raise OSError(f'{dst} exists')
    if not os.path.isdir(source):
      ObjectStoreFilesystem.copy(src, dst, overwrite=True)
      ObjectStoreFilesystem.remove(src)
      return
    for path in local_files(source):  # object by object, as GCS renames a "directory"
      relative = os.path.relpath(path, source)
      ObjectStoreFilesystem.copy(os.path.join(src, relative), os.path.join(dst, relative), overwrite=True)
      ObjectStoreFilesystem.remove(os.path.join(src, relative))
    store().change(lambda: shutil.rmtree(source))

  @staticmethod
  def rmtree(path):
    local = store().local(path)
    if not os.path.isdir(local):
      raise filesystem.NotFoundError(path)
    for file in local_files(local):  # object by object
      ObjectStoreFilesystem.remove(SCHEME + os.path.relpath(file, store().root))
    store().change(lambda: shutil.rmtree(local))

  @staticmethod
  def stat(path):
    return os.stat(store().local(path))

  @staticmethod
  def walk(top, topdown=True, onerror=None):
    for directory, subdirectories, files in os.walk(store().local(top), topdown=topdown, onerror=onerror):
      yield SCHEME + os.path.relpath(directory, store().root), subdirectories, files


filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(ObjectStoreFilesystem, priority=0)
