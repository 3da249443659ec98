"""The keras-tuner contract the Tuner relies on, and the oracle's order and time budget."""
import time

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
