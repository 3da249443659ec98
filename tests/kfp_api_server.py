"""A Kubeflow Pipelines v2beta1 REST API on loopback, for deploy's tests: it answers what kfp.Client asks, checks
every request body against the API's message types (kfp_server_api's models, generated from the KFP API), and
records each request with its headers."""
import cgi
import contextlib
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterator, List, Optional
from urllib.parse import parse_qs, urlsplit

import kfp_server_api
import yaml

API = '/apis/v2beta1'
BODY_TYPES = {('POST', f'{API}/experiments'): 'V2beta1Experiment', ('POST', f'{API}/runs'): 'V2beta1Run',
              ('POST', f'{API}/recurringruns'): 'V2beta1RecurringRun'}


def unknown_fields(value, type_name: str, path: str = '') -> List[str]:
  """The fields of a JSON body that the KFP API message type (and its nested types) does not have."""
  model = getattr(kfp_server_api, type_name, None)
  if model is None or not isinstance(value, dict):
    return []
  found = []
  for key, item in value.items():
    if key not in model.attribute_map.values():
      found.append(f'{path}{key}')
      continue
    attribute = next(a for a, k in model.attribute_map.items() if k == key)
    nested = re.sub(r'^list\[(.*)\]$', r'\1', model.openapi_types[attribute])
    for element in (item if isinstance(item, list) else [item]):
      found += unknown_fields(element, nested, f'{path}{key}.')
  return found


class KfpApi:
  """The server's state: pipelines, versions, experiments, and every request received."""

  def __init__(self, pipelines: Optional[Dict[str, str]] = None):
    self.pipelines = dict(pipelines or {})  # display name -> id
    self.versions: Dict[str, List[dict]] = {pid: [] for pid in self.pipelines.values()}
    self.experiments: Dict[str, str] = {}
    self.requests: List[dict] = []

  def answer(self, method: str, url: str, headers: dict, body: bytes) -> dict:
    """The JSON answer to one request, after checking and recording it; ValueError for a body the API refuses."""
    parts = urlsplit(url)
    path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
    headers = {name.lower(): value for name, value in headers.items()}  # HTTP names are case-insensitive
    record = {'method': method, 'path': path, 'query': query, 'headers': headers}
    if headers.get('content-type', '').startswith('multipart/form-data'):
      record['form'] = multipart(headers['content-type'], body)
    elif body:
      record['body'] = json.loads(body)
      problems = unknown_fields(record['body'], BODY_TYPES.get((method, path), ''))
      if problems:
        raise ValueError(f'{method} {path}: fields the KFP API does not have: {problems}')
    self.requests.append(record)
    return self.route(method, path, query, record)

  def route(self, method: str, path: str, query: dict, record: dict) -> dict:
    """The answers of the endpoints kfp.Client uses."""
    if path == f'{API}/healthz':
      return {'multi_user': False}
    if method == 'GET' and path == f'{API}/pipelines':
      name = filtered_name(query)
      found = [{'pipeline_id': self.pipelines[name], 'display_name': name}] if name in self.pipelines else []
      return {'pipelines': found, 'total_size': len(found)}
    if method == 'POST' and path == f'{API}/pipelines/upload':
      pipeline_id = f'p-{len(self.pipelines) + 1}'
      self.pipelines[query['name']] = pipeline_id
      self.versions[pipeline_id] = [{'pipeline_id': pipeline_id, 'pipeline_version_id': f'{pipeline_id}-v1',
                                     'display_name': query['name']}]
      return {'pipeline_id': pipeline_id, 'display_name': query['name']}
    if method == 'GET' and re.fullmatch(f'{API}/pipelines/[^/]+/versions', path):
      versions = self.versions[path.split('/')[-2]]
      return {'pipeline_versions': versions, 'total_size': len(versions)}
    if method == 'POST' and path == f'{API}/pipelines/upload_version':
      versions = self.versions[query['pipelineid']]
      version = {'pipeline_id': query['pipelineid'], 'display_name': query['name'],
                 'pipeline_version_id': f'{query["pipelineid"]}-v{len(versions) + 1}'}
      versions.append(version)
      return version
    if method == 'GET' and path == f'{API}/experiments':
      name = filtered_name(query)
      found = [{'experiment_id': self.experiments[name], 'display_name': name}] if name in self.experiments else []
      return {'experiments': found, 'total_size': len(found)}
    if method == 'POST' and path == f'{API}/experiments':
      self.experiments[record['body']['display_name']] = f'e-{len(self.experiments) + 1}'
      return {**record['body'], 'experiment_id': self.experiments[record['body']['display_name']]}
    if method == 'POST' and path == f'{API}/runs':
      return {**record['body'], 'run_id': 'r-1'}
    if method == 'POST' and path == f'{API}/recurringruns':
      return {**record['body'], 'recurring_run_id': 'rr-1'}
    raise LookupError(f'{method} {path} is not an endpoint this fake serves')

  def bodies(self, method: str, path: str) -> List[dict]:
    """The bodies (or forms) of the requests to one endpoint, in order."""
    return [r.get('body', r.get('form')) for r in self.requests if (r['method'], r['path']) == (method, API + path)]


def filtered_name(query: dict) -> str:
  """The display name a list request filters on (its one predicate: name EQUALS value)."""
  [predicate] = json.loads(query['filter'])['predicates']
  if predicate['operation'] not in (1, 'EQUALS') or predicate['key'] not in ('name', 'display_name'):
    raise ValueError(f'unexpected list filter {predicate}')
  return predicate.get('string_value', predicate.get('stringValue'))


def multipart(content_type: str, body: bytes) -> dict:
  """The fields of a multipart form: names to text (an uploaded file's text too)."""
  environ = {'REQUEST_METHOD': 'POST', 'CONTENT_TYPE': content_type, 'CONTENT_LENGTH': str(len(body))}
  form = cgi.FieldStorage(fp=io.BytesIO(body), environ=environ)
  return {name: form[name].value.decode() if isinstance(form[name].value, bytes) else form[name].value
          for name in form.keys()}


def handler(api: KfpApi) -> type:
  """The HTTP handler class serving one KfpApi."""

  class Handler(BaseHTTPRequestHandler):
    def do(self, method: str) -> None:
      body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
      try:
        payload, status = api.answer(method, self.path, dict(self.headers), body), 200
      except (ValueError, LookupError) as e:
        payload, status = {'error': str(e), 'code': 3}, 400
      data = json.dumps(payload).encode()
      self.send_response(status)
      self.send_header('Content-Type', 'application/json')
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def do_GET(self):  # pylint: disable=invalid-name
      self.do('GET')

    def do_POST(self):  # pylint: disable=invalid-name
      self.do('POST')

    def log_message(self, *args):
      pass

  return Handler


@contextlib.contextmanager
def serving(api: KfpApi) -> Iterator[str]:
  """The API served on a free loopback port for the duration; yields its URL."""
  server = ThreadingHTTPServer(('127.0.0.1', 0), handler(api))
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f'http://127.0.0.1:{server.server_address[1]}'
  finally:
    server.shutdown()
    server.server_close()


def uploaded_spec(form: dict) -> dict:
  """The pipeline spec an upload carried."""
  return yaml.safe_load(form['uploadfile'])
