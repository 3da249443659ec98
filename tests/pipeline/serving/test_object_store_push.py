"""The Pusher on an object store (objstore://, GCS's semantics on a local directory): a TF Serving that follows the
serving config only ever serves complete versions, at every intermediate state of a push and after a killed one."""
import os
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.types.standard_component_specs import CUSTOM_CONFIG_KEY, PUSH_DESTINATION_KEY
from tfx.utils import json_utils, proto_utils

import fake_object_store
from fake_object_store import SCHEME, Killed, ObjectStore
from pipeline.serving.pusher import MODEL_NAME_KEY, SERVING_CONFIG, AtomicPusherExecutor

BASE = SCHEME + 'bucket/taxi/serving_model'
MODEL_NAME = 'taxi-test'


@pytest.fixture
def object_store(tmp_path):
  fake_object_store.STORE = ObjectStore(str(tmp_path / 'objects'))
  os.makedirs(fake_object_store.STORE.root)
  yield fake_object_store.STORE
  fake_object_store.STORE = None


def model_artifact(root, graph: bytes):
  """A Model artifact whose SavedModel (four files) has graph as its saved_model.pb."""
  serving = root / 'Format-Serving'
  for relative, data in (('saved_model.pb', graph), ('variables/variables.index', b'index ' + graph),
                         ('variables/variables.data-00000-of-00001', b'weights ' + graph),
                         ('assets/vocabulary.txt', b'Cash\nCredit Card\n')):
    (serving / relative).parent.mkdir(parents=True, exist_ok=True)
    (serving / relative).write_bytes(data)
  model = standard_artifacts.Model()
  model.uri = str(root)
  return model


def files_under(directory: str):
  """{relative path: bytes} of every file under a local directory."""
  return {os.path.relpath(os.path.join(d, f), directory): Path(d, f).read_bytes()
          for d, _, names in os.walk(directory) for f in names}


def run_pusher(tmp_path, model, base=BASE):
  """AtomicPusherExecutor.Do, as TFX calls it, on a blessed model; the PushedModel artifact."""
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / 'blessing')
  blessing.set_int_custom_property('blessed', 1)
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / f'pushed-{len(os.listdir(tmp_path))}')
  destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base))
  properties = {PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination),
                CUSTOM_CONFIG_KEY: json_utils.dumps({MODEL_NAME_KEY: MODEL_NAME})}
  AtomicPusherExecutor().Do({'model': [model], 'model_blessing': [blessing]}, {'pushed_model': [pushed]}, properties)
  return pushed


class Server:
  """What a model server would serve from BASE after each change, recorded as (version, model name or 'partial').

  follows_config: TF Serving started with --model_config_file=BASE/models.config (nothing before the file
  exists); otherwise one started with --model_base_path=BASE, serving the highest numeric version directory.
  """

  def __init__(self, store, models, follows_config=True, base=BASE):
    self.store, self.models, self.follows_config, self.base = store, models, follows_config, store.local(base)
    self.seen = []

  def version(self):
    if self.follows_config:
      path = os.path.join(self.base, SERVING_CONFIG)
      if not os.path.exists(path):
        return None
      with open(path, encoding='utf-8') as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
      (model,) = config.model_config_list.config
      assert (model.name, model.base_path, model.model_platform) == (MODEL_NAME, self.base_path(), 'tensorflow')
      (version,) = model.model_version_policy.specific.versions
      return str(version)
    versions = [n for n in os.listdir(self.base) if n.isdigit()] if os.path.isdir(self.base) else []
    return max(versions, key=int, default=None)

  def base_path(self):
    return SCHEME + os.path.relpath(self.base, self.store.root)

  def served(self):
    version = self.version()
    if version is None:
      return None
    files = files_under(os.path.join(self.base, version))
    return version, next((name for name, model in self.models.items() if files == model), 'partial')

  def __call__(self):
    self.seen.append(self.served())


def test_a_config_following_server_only_ever_serves_complete_versions(object_store, tmp_path):
  a, b = model_artifact(tmp_path / 'a', b'graph a'), model_artifact(tmp_path / 'b', b'graph b')
  models = {name: files_under(os.path.join(m.uri, 'Format-Serving')) for name, m in (('a', a), ('b', b))}
  server, poller = Server(object_store, models), Server(object_store, models, follows_config=False)
  object_store.observers += [server, poller]

  first = run_pusher(tmp_path, a)
  version_a = first.get_string_custom_property('pushed_version')
  assert first.get_string_custom_property('pushed_destination') == f'{BASE}/{version_a}'
  assert server.served() == (version_a, 'a'), 'after the push, the serving config names the pushed version'
  second = run_pusher(tmp_path, b)
  version_b = second.get_string_custom_property('pushed_version')
  assert int(version_b) > int(version_a) and server.served() == (version_b, 'b')

  assert object_store.changes > 20 and len(server.seen) == object_store.changes
  assert all(s is None or s[1] != 'partial' for s in server.seen), f'a half-written version was served: {server.seen}'
  served = [s for i, s in enumerate(server.seen) if s is not None and s != server.seen[i - 1]]
  assert served == [(version_a, 'a'), (version_b, 'b')]
  # The store really is not atomic: a server polling the directory saw versions while their objects arrived.
  assert (version_a, 'partial') in poller.seen and (version_b, 'partial') in poller.seen
  assert sorted(os.listdir(object_store.local(BASE))) == [version_a, version_b, SERVING_CONFIG]

  changes = object_store.changes
  again = run_pusher(tmp_path, b)  # the served model once more: no new version, the config unchanged
  assert again.get_string_custom_property('pushed_destination') == f'{BASE}/{version_b}'
  assert server.served() == (version_b, 'b') and set(server.seen[changes:]) == {(version_b, 'b')}
  assert sorted(os.listdir(object_store.local(BASE))) == [version_a, version_b, SERVING_CONFIG]


def test_a_killed_push_serves_the_previous_version_until_the_new_one_is_complete(object_store, tmp_path):
  a, b = model_artifact(tmp_path / 'a', b'graph a'), model_artifact(tmp_path / 'b', b'graph b')
  models = {name: files_under(os.path.join(m.uri, 'Format-Serving')) for name, m in (('a', a), ('b', b))}
  kill_at, served_after_kill, left_half_written = 1, [], []
  while True:
    base = f'{BASE}-{kill_at}'
    object_store.kill_at = None
    version_a = run_pusher(tmp_path, a, base).get_string_custom_property('pushed_version')
    server = Server(object_store, models, base=base)
    object_store.observers[:] = [server]
    object_store.changes, object_store.kill_at = 0, kill_at
    try:
      run_pusher(tmp_path, b, base)
      break  # the push completed before its kill point: every earlier point was tried
    except Killed:
      pass
    assert all(s and s[1] != 'partial' for s in server.seen), f'killed before change {kill_at}: {server.seen}'
    served = server.served()
    assert served and served[1] != 'partial', f'killed before change {kill_at}, the config serves {served}'
    served_after_kill.append(served[1])
    left = sorted(n.rstrip('/') for n in os.listdir(object_store.local(base)))
    if served == (version_a, 'a') and any(n.isdigit() and n != version_a for n in left):
      left_half_written.append(set(left) - {version_a, SERVING_CONFIG})

    object_store.kill_at = None  # the next push completes and removes what the killed one left
    version_b = run_pusher(tmp_path, b, base).get_string_custom_property('pushed_version')
    assert server.served() == (version_b, 'b')
    assert all(s in {(version_a, 'a'), (version_b, 'b')} for s in server.seen), server.seen
    assert sorted(os.listdir(object_store.local(base))) == sorted([version_a, version_b, SERVING_CONFIG])
    kill_at += 1
  # Killed before the config named the new version, the old one stays served; after, the new one, complete.
  assert served_after_kill == sorted(served_after_kill) and {'a', 'b'} == set(served_after_kill), served_after_kill
  assert len(left_half_written) >= 4, 'killed mid-copy, with the old version served, at each object of the copy'
  for left in left_half_written:  # the half-written version and its marker, until the next push removed them
    (version,) = [n for n in left if n.isdigit()]
    assert {version, f'.{version}.incomplete'} <= left <= {version, f'.{version}.incomplete', f'.{SERVING_CONFIG}.tmp'}


def test_the_serving_config_is_tf_servings_and_names_one_version(object_store, tmp_path):
  run_pusher(tmp_path, model_artifact(tmp_path / 'a', b'graph a'))
  with open(os.path.join(object_store.local(BASE), SERVING_CONFIG), encoding='utf-8') as f:
    config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
  (model,) = config.model_config_list.config
  assert (model.name, model.base_path, model.model_platform) == (MODEL_NAME, BASE, 'tensorflow')
  assert model.model_version_policy.WhichOneof('policy_choice') == 'specific'
  assert [str(v) for v in model.model_version_policy.specific.versions] == [
      n for n in os.listdir(object_store.local(BASE)) if n.isdigit()]
