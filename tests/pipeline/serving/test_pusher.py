"""pipeline/serving/pusher.py: the atomic push."""
import os

from pipeline.serving.pusher import free_version, latest_version, publish_atomically, tree_digest


def fake_model(root):
  (root / 'variables').mkdir(parents=True)
  (root / 'variables' / 'variables.index').write_bytes(b'index')
  (root / 'saved_model.pb').write_bytes(b'graph')
  return root


def test_publish_renames_a_complete_copy_and_clears_stale_staging(tmp_path):
  model = fake_model(tmp_path / 'model')
  serving = tmp_path / 'serving'
  (serving / '.99.incomplete').mkdir(parents=True)  # left by a push that was killed
  final = publish_atomically(str(model), str(serving), '100')
  assert final == str(serving / '100')
  assert sorted(os.listdir(serving)) == ['100']
  assert (serving / '100' / 'saved_model.pb').read_bytes() == b'graph'
  assert (serving / '100' / 'variables' / 'variables.index').read_bytes() == b'index'


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
