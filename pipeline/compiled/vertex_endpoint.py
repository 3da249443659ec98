"""The Vertex AI boundary of TFX's Vertex Pusher, for run-local: nothing leaves the machine.

TFX's Vertex Pusher executor (tfx.extensions.google_cloud_ai_platform.pusher) deploys with the Vertex AI SDK
(google.cloud.aiplatform): it looks the endpoint up by display name, creates it when missing, uploads the model to
the Model Registry and deploys it to the endpoint. All of that runs here as it is, down to the SDK's API clients,
which stand_in() replaces: each request the SDK builds is checked against the Vertex AI API's own request type
(aiplatform_v1: CreateEndpointRequest, UploadModelRequest, DeployModelRequest), recorded, and answered the way the
API would (an empty endpoint list first, then the created endpoint, model and deployment), so the SDK's own checks
on the way (the deploy arguments, the model directory of a prebuilt container) run too. Requests go to the
request file as JSON, in the order they would be sent; no credentials are needed.

Where the pipeline root is local, as under run-local, the SDK would first copy the model directory to a staging
bucket; on Vertex the root is gs:// and the model is uploaded from there, so here it is uploaded from where it is.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

from pipeline import compat

Json = Dict[str, Any]


def as_json(message: Any) -> Json:
  """A proto-plus message as the API's JSON-like dict (field names as in the proto, enums by name)."""
  return type(message).to_dict(message, preserving_proto_field_name=True, use_integers_for_enums=False,
                               including_default_value_fields=False)


class Operation:
  """A long-running operation that is already done, as the SDK waits on one."""

  def __init__(self, name: str, response: Any):
    self.operation = type('OperationProto', (), {'name': name})()
    self._response = response

  def result(self, timeout: Any = None) -> Any:  # pylint: disable=unused-argument
    """The response."""
    return self._response


class VertexStandIn:
  """The Vertex AI API as the SDK's EndpointService and ModelService clients see it, recording every request."""

  def __init__(self, request_file: str):
    from google.cloud import aiplatform_v1  # pylint: disable=g-import-not-at-top
    self.types = aiplatform_v1
    self.request_file = request_file
    self.requests: List[Json] = []
    self.endpoints: Dict[str, Any] = {}
    self.models: Dict[str, Any] = {}

  def record(self, method: str, request: Any) -> None:
    """Appends a checked request to the requests and rewrites the request file with all of them."""
    self.requests.append({'method': method, 'request': as_json(request)})
    with open(self.request_file, 'w', encoding='utf-8') as f:
      json.dump(self.requests, f, indent=2, sort_keys=True)

  def request(self, type_name: str, request: Any = None, **fields: Any) -> Any:
    """The request as the API's message type, from a request or the SDK's flattened fields; ValueError naming
    what the API would refuse."""
    message_type = getattr(self.types, type_name)
    fields = {name: value for name, value in fields.items() if value is not None}
    try:
      return message_type(request, **fields) if request is not None else message_type(**fields)
    except (ValueError, TypeError, KeyError) as e:
      raise ValueError(f'the {type_name} the Vertex AI SDK built is not a valid Vertex AI request: {e}') from e

  def list_endpoints(self, request: Any = None, **_: Any) -> List[Any]:
    """The endpoints under the parent, those of the display name the filter asks for."""
    request = self.request('ListEndpointsRequest', request)
    wanted = request.filter.split('=', 1)[1].strip('"') if request.filter.startswith('display_name=') else None
    return [e for e in self.endpoints.values()
            if e.name.startswith(request.parent + '/') and wanted in (None, e.display_name)]

  def create_endpoint(self, parent: str = None, endpoint: Any = None, endpoint_id: str = None, request: Any = None,
                      **_: Any) -> Operation:
    """Records the creation; the endpoint, named by its number under the parent."""
    request = self.request('CreateEndpointRequest', request, parent=parent, endpoint=endpoint,
                           endpoint_id=endpoint_id)
    self.record('EndpointService.CreateEndpoint', request)
    created = self.types.Endpoint(request.endpoint)
    created.name = f'{request.parent}/endpoints/{len(self.endpoints) + 1}'
    self.endpoints[created.name] = created
    return Operation(f'{created.name}/operations/1', created)

  def get_endpoint(self, name: str = None, request: Any = None, **_: Any) -> Any:
    """An endpoint created earlier."""
    return self.endpoints[self.request('GetEndpointRequest', request, name=name).name]

  def upload_model(self, request: Any = None, **_: Any) -> Operation:
    """Records the upload; the model, version 1, deployable on dedicated or automatic resources."""
    request = self.request('UploadModelRequest', request)
    self.record('ModelService.UploadModel', request)
    model = self.types.Model(request.model)
    model.name = f'{request.parent}/models/{len(self.models) + 1}'
    model.version_id = '1'
    model.supported_deployment_resources_types = [
        self.types.Model.DeploymentResourcesType.DEDICATED_RESOURCES,
        self.types.Model.DeploymentResourcesType.AUTOMATIC_RESOURCES]
    self.models[model.name] = model
    return Operation(f'{model.name}/operations/1',
                     self.types.UploadModelResponse(model=model.name, model_version_id=model.version_id))

  def get_model(self, name: str = None, request: Any = None, **_: Any) -> Any:
    """A model uploaded earlier (any version)."""
    return self.models[self.request('GetModelRequest', request, name=name).name.split('@')[0]]

  def deploy_model(self, endpoint: str = None, deployed_model: Any = None, traffic_split: Any = None,
                   request: Any = None, **_: Any) -> Operation:
    """Records the deployment; the endpoint then serves the model with the traffic split asked for."""
    request = self.request('DeployModelRequest', request, endpoint=endpoint, deployed_model=deployed_model,
                           traffic_split=dict(traffic_split) if traffic_split is not None else None)
    self.record('EndpointService.DeployModel', request)
    deployed = self.types.DeployedModel(request.deployed_model)
    deployed.id = str(len(self.endpoints[request.endpoint].deployed_models) + 1)
    target = self.endpoints[request.endpoint]
    target.deployed_models.append(deployed)
    target.traffic_split = {(deployed.id if key == '0' else key): value
                            for key, value in request.traffic_split.items()}
    return Operation(f'{request.endpoint}/operations/2', self.types.DeployModelResponse(deployed_model=deployed))

  def select_version(self, version: str) -> 'VertexStandIn':
    """The client of an API version: v1 only."""
    if version != 'v1':
      raise ValueError(f'run-local stands in for the Vertex AI v1 API only, not {version}')
    return self


def stand_in(request_file: str) -> VertexStandIn:
  """Makes the Vertex AI SDK talk to a VertexStandIn (anonymous credentials, no staging copy); the stand-in."""
  from google.auth import credentials  # pylint: disable=g-import-not-at-top
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  from google.cloud.aiplatform import initializer  # pylint: disable=g-import-not-at-top
  from google.cloud.aiplatform.utils import gcs_utils  # pylint: disable=g-import-not-at-top
  compat.private('google-cloud-aiplatform', initializer.global_config, 'create_client')
  compat.private('google-cloud-aiplatform', gcs_utils, 'stage_local_data_in_gcs')
  api = VertexStandIn(request_file)
  aiplatform.init(credentials=credentials.AnonymousCredentials())
  initializer.global_config.create_client = lambda *args, **kwargs: api
  gcs_utils.stage_local_data_in_gcs = upload_in_place
  return api


def upload_in_place(data_path: str, *_: Any, **__: Any) -> str:
  """The SDK's copy of a local model directory to a staging bucket, skipped: the model is uploaded from its path."""
  return data_path

