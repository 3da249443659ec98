"""pipeline/inference/model_choice.py: this run's model when blessed, else the pushed one, else a clear error."""
import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from pipeline.inference.model_choice import InferenceModel, NoModelToScoreError


def in_memory_store():
  config = metadata_store_pb2.ConnectionConfig()
  config.fake_database.SetInParent()
  return metadata_store.MetadataStore(config)


def model(model_id):
  artifact = standard_artifacts.Model()
  artifact.id = model_id
  return artifact


def blessing(blessed):
  artifact = standard_artifacts.ModelBlessing()
  artifact.set_int_custom_property('blessed', int(blessed))
  return artifact


def record_push(store, model_id):
  """A Pusher execution that took Model model_id and pushed it."""
  pushed_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='PushedModel'))
  pushed = metadata_store_pb2.Artifact(type_id=pushed_type, uri='/pushed')
  pushed.custom_properties['pushed'].int_value = 1
  [pushed_id] = store.put_artifacts([pushed])
  execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name='Pusher'))
  [execution_id] = store.put_executions([metadata_store_pb2.Execution(type_id=execution_type)])
  events = []
  for artifact_id, kind, key in ((model_id, metadata_store_pb2.Event.INPUT, 'model'),
                                 (pushed_id, metadata_store_pb2.Event.OUTPUT, 'pushed_model')):
    event = metadata_store_pb2.Event(artifact_id=artifact_id, execution_id=execution_id, type=kind)
    event.path.steps.add().key = key
    events.append(event)
  store.put_events(events)


def resolve(store, candidate_blessed, models=()):
  inputs = {'candidate': [model(9)], 'blessing': [blessing(candidate_blessed)], 'model': list(models)}
  return [m.id for m in InferenceModel().resolve_artifacts(store, inputs)['model']]


def test_this_runs_blessed_model_scores():
  store = in_memory_store()
  model_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='Model'))
  [older] = store.put_artifacts([metadata_store_pb2.Artifact(type_id=model_type)])
  record_push(store, older)
  assert resolve(store, True, [model(older)]) == [9]


def test_the_pushed_model_scores_when_this_runs_model_was_not_blessed():
  store = in_memory_store()
  model_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='Model'))
  first, second = store.put_artifacts([metadata_store_pb2.Artifact(type_id=model_type)] * 2)
  record_push(store, first)
  assert resolve(store, False, [model(first), model(second)]) == [first]


def test_no_blessed_and_no_pushed_model_is_an_error_that_says_so():
  with pytest.raises(NoModelToScoreError, match='not blessed and no model of this pipeline was pushed'):
    resolve(in_memory_store(), False)
