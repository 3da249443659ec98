"""local_runner.py --tune end to end on a small sample: the Tuner's best hyperparameters (of two trials run at
once) train the model, later runs without --tune take them from ML Metadata, and a rerun with nothing changed takes
the Tuner from the cache."""
import json

import numpy as np
import pytest

from conftest import latest_run, run_local, taxi_rows, write_csv
from models import hyperparameters
from models.contract import HPARAMS_FILE, WEIGHTS_FILE

ROWS = 1000
STEPS = '20'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
  header, rows = taxi_rows()
  return write_csv(tmp_path_factory.mktemp('tuning') / 'data' / 'data.csv', header, rows[:ROWS])


def run(data_root, output_root, *flags):
  """One local run; its summary and console output."""
  process = run_local('--data-root', str(data_root), '--output-root', str(output_root), '--train-steps', STEPS,
                      *flags)
  assert process.returncode == 0, process.stdout + process.stderr
  return latest_run(output_root), process.stdout


def trained_with(summary):
  """The Trainer's record of its hyperparameters and the layer shapes of the weights it saved."""
  model_dir = summary.component('Trainer').outputs['model'][0].uri
  with open(f'{model_dir}/{HPARAMS_FILE}') as f:
    record = json.load(f)
  with np.load(f'{model_dir}/{WEIGHTS_FILE}') as weights:
    shapes = {name: weights[name].shape for name in weights.files}
  return record, shapes


def test_tuned_hyperparameters_train_the_model_and_later_runs_resolve_them(data_root, tmp_path):
  output_root = tmp_path / 'out'
  first, stdout = run(data_root, output_root)  # nothing tuned yet: the declared defaults.
  record, _ = trained_with(first)
  assert record['source'] == 'defaults' and not first.component('Trainer').inputs.get('hyperparameters')
  assert 'Hyperparameters (the defaults declared in models/)' in stdout

  tuned, stdout = run(data_root, output_root, '--tune', '--trials', '2', '--tuner-parallel', '2')
  tuner = tuned.component('Tuner')
  assert tuner.state == 'COMPLETE'
  best = tuner.outputs['best_hyperparameters'][0]
  assert [a.id for a in tuned.component('Trainer').inputs['hyperparameters']] == [best.id]
  with open(f'{best.uri}/best_hyperparameters.txt') as f:
    values = json.load(f)['values']
  expected = hyperparameters.to_hparams(values)
  record, shapes = trained_with(tuned)
  assert record['source'] == 'tuned' and tuple(record['hparams']['hidden_units']) == expected.hidden_units
  units = [shapes[f'deep_{i}/kernel:0'][1] for i in range(len(expected.hidden_units))]
  assert units == list(expected.hidden_units) and f'deep_{len(units)}/kernel:0' not in shapes
  assert shapes['deep_logit/kernel:0'] == (expected.hidden_units[-1], 1)
  assert max(s[1] for name, s in shapes.items() if name.endswith('_embedding/embeddings:0')) <= \
      expected.max_embedding_dim
  assert f'tuned by Tuner execution {tuner.execution_id}' in stdout

  later, stdout = run(data_root, output_root)
  assert [a.id for a in later.component('latest_hyperparameters_resolver').resolved['hyperparameters']] == [best.id]
  assert [a.id for a in later.component('Trainer').inputs['hyperparameters']] == [best.id]
  assert trained_with(later)[0]['hparams'] == record['hparams']

  again, _ = run(data_root, output_root, '--tune', '--trials', '2', '--tuner-parallel', '2')
  assert again.component('Tuner').state == 'CACHED'
  assert [a.id for a in again.component('Trainer').inputs['hyperparameters']] == [best.id]
