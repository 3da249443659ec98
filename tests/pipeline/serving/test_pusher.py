"""pipeline/serving/pusher.py on a local path: the push by write, verify, rename, and what a killed push leaves."""
import os
from pathlib import Path

import pytest
from tfx.dsl.io import fileio

from fake_object_store import Killed
from pipeline.serving.pusher import (free_version, latest_version, push, renames_atomically, served_version,
                                     staged_version, tree_digest)

README = Path(__file__).resolve().parents[3] / 'README.md'


def fake_model(root, graph=b'graph'):
  (root / 'variables').mkdir(parents=True)
  (root / 'variables' / 'variables.index').write_bytes(b'index')
  (root / 'saved_model.pb').write_bytes(graph)
  return root


def readme_section(title):
  """The README's text under a heading, up to the next heading, on one line."""
  text = README.read_text(encoding='utf-8')
  section = text[text.index(title):]
  return ' '.join(section[:section.index('\n#', len(title))].split())


def test_push_renames_a_verified_copy_and_clears_stale_staging(tmp_path):
  model = fake_model(tmp_path / 'model')
  serving = tmp_path / 'serving'
  (serving / '.99.incomplete').mkdir(parents=True)  # left by a push that was killed
  final = push(str(model), str(serving), 'taxi', 100.5)
  assert final == str(serving / '100')
  assert sorted(os.listdir(serving)) == ['100']  # no serving config on a local path: the rename is atomic
  assert (serving / '100' / 'saved_model.pb').read_bytes() == b'graph'
  assert (serving / '100' / 'variables' / 'variables.index').read_bytes() == b'index'
  assert push(str(model), str(serving), 'taxi', 200.0) == final  # the served model again: no new version


def test_a_push_killed_mid_copy_leaves_its_staging_directory_until_the_next_push(tmp_path, monkeypatch):
  serving = tmp_path / 'serving_model'
  push(str(fake_model(tmp_path / 'a', b'graph a')), str(serving), 'taxi', 100.0)
  copy, copies = fileio.copy, []

  def copy_then_die(src, dst, overwrite=False):
    if copies:
      raise Killed(f'killed while copying {src}')
    copies.append(src)
    copy(src, dst, overwrite)
  monkeypatch.setattr(fileio, 'copy', copy_then_die)
  with pytest.raises(Killed):
    push(str(fake_model(tmp_path / 'b', b'graph b')), str(serving), 'taxi', 200.0)
  assert sorted(os.listdir(serving)) == ['.200.incomplete', '100'] and served_version(str(serving)) == '100'

  monkeypatch.setattr(fileio, 'copy', copy)
  assert push(str(tmp_path / 'b'), str(serving), 'taxi', 300.0) == str(serving / '300')
  assert sorted(os.listdir(serving)) == ['100', '300']
  section = readme_section('### When the data is bad, or a run dies')
  assert 'byte-identical' not in section
  assert 'killed mid-copy leaves `serving_model/.<version>.incomplete` behind until the next push' in section


def test_a_copy_that_differs_from_the_model_is_never_published(tmp_path, monkeypatch):
  serving = tmp_path / 'serving_model'
  push(str(fake_model(tmp_path / 'a', b'graph a')), str(serving), 'taxi', 100.0)
  copy = fileio.copy

  def copy_and_corrupt(src, dst, overwrite=False):
    copy(src, dst, overwrite)
    with open(dst, 'ab') as f:
      f.write(b'!')
  monkeypatch.setattr(fileio, 'copy', copy_and_corrupt)
  with pytest.raises(RuntimeError, match='differs from it'):
    push(str(fake_model(tmp_path / 'b', b'graph b')), str(serving), 'taxi', 200.0)
  assert sorted(os.listdir(serving)) == ['.200.incomplete', '100']


def test_only_local_paths_rename_atomically_and_staging_names():
  assert renames_atomically('/srv/serving_model') and renames_atomically('file:///srv/serving_model')
  assert not renames_atomically('gs://bucket/serving_model') and not renames_atomically('s3://bucket/serving_model')
  assert [staged_version(n) for n in ('.12.incomplete', '.12.incomplete/', '12', '..incomplete', '.x.incomplete')] == [
      '12', '12', '', '', '']


def test_versions_never_collide(tmp_path):
  (tmp_path / '1700000000').mkdir()
  assert free_version(str(tmp_path), 1700000000.7) == '1700000001'
  assert free_version(str(tmp_path), 1800000000.0) == '1800000000'


def test_latest_version_and_content_digest(tmp_path):
  assert latest_version(str(tmp_path / 'missing')) == ''
  for name in ('9', '10', '.11.incomplete'):
    (tmp_path / name).mkdir()
  assert latest_version(str(tmp_path)) == '10'
  first, second = fake_model(tmp_path / 'a'), fake_model(tmp_path / 'b')
  assert tree_digest(str(first)) == tree_digest(str(second))
  (second / 'saved_model.pb').write_bytes(b'other graph')
  assert tree_digest(str(first)) != tree_digest(str(second))
