"""The keras-tuner contract the Tuner relies on, and the oracle's order and time budget."""
import time
from typing import Dict, List, Tuple

import keras_tuner
import pytest

from conftest import REPO_ROOT
from models import hyperparameters, tuner


def test_keras_tuner_is_the_locked_version_with_the_contract_relied_on():
  locked = dict(line.split(';')[0].strip().split('==', 1) for line in
                (REPO_ROOT / 'requirements.lock').read_text().splitlines() if '==' in line)
  assert locked['keras-tuner'] == tuner.KERAS_TUNER_PIN
  assert tuner.contract_problems() == []


def test_another_version_fails_naming_both():
  problems = tuner.contract_problems('1.5.0')
  assert 'keras-tuner 1.4.8 (pinned in requirements.lock), but keras-tuner 1.5.0 is installed' in problems[0]


def test_the_first_trial_is_the_defaults_then_seeded_values(tmp_path):
  def first_values(directory):
    search = tuner.create_tuner(str(directory), trials=3, seconds=0)
    return [search.oracle.create_trial(f'tuner{i}').hyperparameters.values for i in range(3)]

  first = first_values(tmp_path / 'a')
  assert first[0] == hyperparameters.default_values()
  assert first[1] != first[0] and first == first_values(tmp_path / 'b')  # the same seed, the same trials.


def test_no_trial_starts_after_the_time_budget(tmp_path):
  search = tuner.create_tuner(str(tmp_path), trials=10, seconds=1)
  search.oracle.start_clock()
  assert search.oracle.create_trial('tuner0').status == 'RUNNING'
  time.sleep(1.1)
  assert search.oracle.create_trial('tuner1').status == 'STOPPED'


@pytest.fixture(scope='module')
def train_inputs(e2e_run):
  """The search's fit arguments over the end-to-end run's train split and transform graph, a few steps a fold."""
  pipeline_root = e2e_run[0] / 'pipeline'
  [examples] = (pipeline_root / 'CsvExampleGen' / 'examples').iterdir()
  [graph] = (pipeline_root / 'Transform' / 'transform_graph').iterdir()
  return {'train_files': [str(examples / 'Split-train' / '*')], 'transform_graph_path': str(graph),
          'train_steps': 5}


def searched(directory, parallel: int, fit_kwargs) -> List[Tuple[Dict, float]]:
  """The values and scores of a three-trial search's trials, in trial order."""
  search = tuner.create_tuner(str(directory), trials=3, seconds=0, parallel=parallel)
  search.search(**fit_kwargs)
  trials = sorted(search.oracle.trials.values(), key=lambda t: t.trial_id)
  assert [t.status for t in trials] == ['COMPLETED'] * 3
  return [(t.hyperparameters.values, t.score) for t in trials]


def test_parallel_trials_are_the_trials_of_a_sequential_search(train_inputs, tmp_path):
  sequential = searched(tmp_path / 'one', 1, train_inputs)
  parallel = searched(tmp_path / 'two', 2, train_inputs)
  assert [values for values, _ in parallel] == [values for values, _ in sequential]
  assert [score for _, score in parallel] == pytest.approx([score for _, score in sequential], abs=1e-6)
  assert 0.5 < sequential[0][1] <= 1  # the mean validation AUC over the folds


def test_a_failing_parallel_trial_stops_the_search_naming_it(train_inputs, tmp_path):
  search = tuner.create_tuner(str(tmp_path), trials=2, seconds=0, parallel=2)
  # Both trials fail; whichever process ends first is the one named.
  with pytest.raises(keras_tuner.errors.FatalError, match=r'trial [01] failed: ValueError'):
    search.search(**{**train_inputs, 'transform_graph_path': str(tmp_path / 'no_such_graph')})
