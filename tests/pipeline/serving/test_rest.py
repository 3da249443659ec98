"""pipeline/serving/rest.py and the README's TF Serving request: a body the serving signature accepts."""
import json
import re
import subprocess
import sys

import pytest
import tensorflow as tf

from benchmarks import generate
from conftest import REPO_ROOT, pushed_model_dir
from models.contract import PREDICTION_KEY, SERVING_INPUT, SERVING_SIGNATURE
from pipeline.serving.rest import csv_body, request_examples, rest_request_body
from preprocessing import features

README = REPO_ROOT / 'README.md'


def readme_section(title):
  """The README's text from a heading to the next heading of the same level."""
  text = README.read_text(encoding='utf-8')
  start = text.index(f'\n{title}\n')
  level = title.split()[0]
  end = text.find(f'\n{level} ', start + len(title) + 2)
  return text[start:end if end > 0 else len(text)]


def readme_body():
  [body] = re.findall(r'```json\n(.*?)\n```', readme_section('## Serving'), re.DOTALL)
  return json.loads(body)


def test_the_readme_body_is_the_first_sample_trip_and_the_signature_scores_it(e2e_run):
  body = readme_body()
  assert body['signature_name'] == SERVING_SIGNATURE and len(body['instances']) == 1
  [example] = request_examples(body)
  [expected] = request_examples(csv_body(str(generate.sample_path()), 1))
  assert example == expected  # serialized deterministically: the same bytes in every process
  parsed = tf.train.Example.FromString(example)
  assert set(parsed.features.feature) <= set(features.serving_columns())
  serve = tf.saved_model.load(str(pushed_model_dir(e2e_run[0]))).signatures[SERVING_SIGNATURE]
  scores = serve(**{SERVING_INPUT: tf.constant(request_examples(body))})[PREDICTION_KEY].numpy()
  assert scores.shape == (1, 1) and 0 <= scores[0, 0] <= 1


def test_the_readme_serves_the_model_under_the_name_the_pusher_gives_it():
  from pipeline.config import PIPELINE_NAME  # pylint: disable=g-import-not-at-top
  section = readme_section('## Serving')
  assert f'target=/models/{PIPELINE_NAME}' in section and f'-e MODEL_NAME={PIPELINE_NAME}' in section
  assert f'/v1/models/{PIPELINE_NAME}:predict' in section


def test_a_body_round_trips_and_a_foreign_signature_is_refused():
  examples = [b'\x00\x01binary', b'\xff']
  body = json.loads(json.dumps(rest_request_body(examples)))
  assert request_examples(body) == examples
  assert body['instances'][0] == {SERVING_INPUT: {'b64': 'AAFiaW5hcnk='}}
  with pytest.raises(ValueError, match="names signature 'transform_features'"):
    request_examples({**body, 'signature_name': 'transform_features'})


def test_the_command_prints_the_body_for_the_first_rows():
  process = subprocess.run([sys.executable, '-m', 'pipeline.serving.rest', '--input', str(generate.sample_path()),
                            '--rows', '3'], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True)
  body = json.loads(process.stdout)
  assert len(body['instances']) == 3
  assert request_examples(body)[0] == request_examples(readme_body())[0]
