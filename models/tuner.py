"""The TFX Tuner entry point: a seeded search of models/hyperparameters.py's space, training the tf_keras model.

keras-tuner 1.4 imports Keras 3 and its `Tuner` refuses a tf_keras model, but TFX's Tuner executor only calls
`search()`, `get_best_hyperparameters()` and `oracle.get_best_trials()`, which `BaseTuner` and its oracle
implement whatever `run_trial` trains. TfKerasSearch is that `BaseTuner`: its run_trial builds the project's model
with build_model, trains it on the training part of the train split and returns the AUC on the validation part.

Which rows choose: the train split only, in folds. Its records are split by a hash of each serialized example into
VALIDATION_BUCKETS parts; a trial trains FOLDS models, each validating on one part after training on the others, and
scores the mean of their AUCs (one part of a few thousand rows alone moves the AUC by more than the differences
between good values). The eval split stays out of the choice, so the Evaluator's AUC of the tuned model is not
biased by the search.

Reproducible: trial 0 is the declared defaults, the oracle draws the others from the seed (HParams.seed), and
each trial seeds weights, dropout and shuffling with the same seed. The time budget (custom_config
'tuner_seconds') stops the search cleanly: no trial starts after it, the running ones finish.

In parallel (custom_config 'tuner_parallel' above 1): up to that many trials at once, one process each, sharing the
machine's cores; this process keeps the oracle, which hands out the same trials as a sequential search. Under
KerasTuner's own distributed tuning (TFX's Vertex AI Tuner: a chief oracle and a worker per replica) each worker
runs its trials one at a time.
"""
from __future__ import annotations

import inspect
import itertools
import multiprocessing
import os
import time
from concurrent import futures
from typing import Any, Callable, Dict, List, Mapping, Tuple

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from keras_tuner.engine import trial as trial_module
from keras_tuner.src.distribute import utils as dist_utils
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from models import hyperparameters
from models.contract import TUNER_PARALLEL_KEY, TUNER_SECONDS_KEY, TUNER_TRIALS_KEY
from models.model import HParams, build_model
from models.trainer import cardinalities, model_inputs

KERAS_TUNER_PIN = '1.4.8'  # as in requirements.lock; CONTRACT is checked against it.
OBJECTIVE = 'val_auc'
VALIDATION_BUCKETS = 5  # each fold validates on a fifth of the train split,
FOLDS = 3  # and a trial's score is the mean over this many folds.
SHUFFLE_BUFFER = 10_000


def record_files(patterns: List[str]) -> List[str]:
  """The files that the split's file patterns name, sorted."""
  return sorted(f for pattern in patterns for f in tf.io.gfile.glob(pattern))


def in_validation_part(record: tf.Tensor, fold: int) -> tf.Tensor:
  """Whether a serialized example of the train split validates in a fold."""
  return tf.equal(tf.strings.to_hash_bucket_fast(record, VALIDATION_BUCKETS), fold)


def part_dataset(files: List[str], tf_transform_output: tft.TFTransformOutput, hparams: HParams, fold: int,
                 validation: bool) -> tf.data.Dataset:
  """Batches of (model inputs, label) from one part of the train split in a fold: the training part endless and
  shuffled, the validation part once, in file order."""
  records = tf.data.TFRecordDataset(files, compression_type='GZIP')
  records = records.filter(lambda r: in_validation_part(r, fold) == validation)
  if not validation:
    records = records.shuffle(SHUFFLE_BUFFER, seed=hparams.seed).repeat()
  raw_spec = tf_transform_output.raw_feature_spec()
  transform = model_inputs(tf_transform_output)
  parse = tf.autograph.experimental.do_not_convert(lambda batch: transform(tf.io.parse_example(batch, raw_spec)))
  return records.batch(hparams.batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


BaseTuner = keras_tuner.engine.base_tuner.BaseTuner
Oracle = keras_tuner.Oracle
# What this module relies on in keras-tuner, beyond its public names: the parameters of each callable (TFX's
# executor calls search(**fit_kwargs), BaseTuner hands them to run_trial; the oracle's populate_space contract).
CONTRACT: Dict[str, Tuple[Callable, Tuple[str, ...]]] = {
    'BaseTuner.__init__': (BaseTuner.__init__, ('self', 'oracle', 'hypermodel', 'directory', 'project_name',
                                                'overwrite', 'kwargs')),
    'BaseTuner.search': (BaseTuner.search, ('self', 'fit_args', 'fit_kwargs')),
    'BaseTuner.run_trial': (BaseTuner.run_trial, ('self', 'trial', 'fit_args', 'fit_kwargs')),
    'BaseTuner.on_search_begin': (BaseTuner.on_search_begin, ('self',)),
    'BaseTuner.get_best_hyperparameters': (BaseTuner.get_best_hyperparameters, ('self', 'num_trials')),
    'Oracle.populate_space': (Oracle.populate_space, ('self', 'trial_id')),
    'Oracle.get_best_trials': (Oracle.get_best_trials, ('self', 'num_trials')),
    'BaseTuner.on_trial_end': (BaseTuner.on_trial_end, ('self', 'trial')),
    'dist_utils.has_chief_oracle': (dist_utils.has_chief_oracle, ()),
    'RandomSearchOracle.__init__': (keras_tuner.oracles.RandomSearchOracle.__init__, (
        'self', 'objective', 'max_trials', 'seed', 'hyperparameters', 'allow_new_entries', 'tune_new_entries',
        'max_retries_per_trial', 'max_consecutive_failed_trials')),
    'HyperParameters.Choice': (keras_tuner.HyperParameters.Choice, (
        'self', 'name', 'values', 'ordered', 'default', 'parent_name', 'parent_values')),
}


def contract_problems(installed: str = keras_tuner.__version__) -> List[str]:
  """What differs from the keras-tuner this module was written against: the version, then each signature."""
  problems = [f'{name}{tuple(inspect.signature(fn).parameters)} instead of {name}{expected}'
              for name, (fn, expected) in CONTRACT.items() if tuple(inspect.signature(fn).parameters) != expected]
  if installed != KERAS_TUNER_PIN:
    problems.insert(0, f'models/tuner.py was written against keras-tuner {KERAS_TUNER_PIN} (pinned in '
                       f'requirements.lock), but keras-tuner {installed} is installed: check its BaseTuner and '
                       'oracle contract (CONTRACT), then update KERAS_TUNER_PIN')
  return problems


class TimedSearchOracle(keras_tuner.oracles.RandomSearchOracle):
  """Random search from a seed whose first trial is the declared defaults, stopping when its time is up."""

  def __init__(self, seconds: float = 0, **kwargs: Any):
    super().__init__(**kwargs)
    self.seconds = seconds
    self.deadline = float('inf')

  def start_clock(self) -> None:
    """Starts the time budget: no trial starts after `seconds` from now (none when seconds is 0)."""
    self.deadline = time.monotonic() + self.seconds if self.seconds else float('inf')

  def populate_space(self, trial_id: str) -> Dict[str, Any]:
    """The defaults first, then seeded random values; STOPPED once the time budget is spent."""
    if time.monotonic() >= self.deadline:
      return {'status': trial_module.TrialStatus.STOPPED, 'values': None}
    if not self.trials:
      return {'status': trial_module.TrialStatus.RUNNING, 'values': self.hyperparameters.values.copy()}
    return super().populate_space(trial_id)


def share_cores(threads: int) -> None:
  """Limits a trial process's TensorFlow to its share of the machine's cores (before TensorFlow starts)."""
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)


class TfKerasSearch(BaseTuner):
  """A KerasTuner BaseTuner whose trials train the project's tf_keras model (keras-tuner's Tuner needs Keras 3)."""

  def __init__(self, *args: Any, parallel: int = 1, **kwargs: Any):
    super().__init__(*args, **kwargs)
    self.parallel = parallel

  def on_search_begin(self) -> None:
    """Starts the oracle's time budget."""
    super().on_search_begin()
    self.oracle.start_clock()

  def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
    """KerasTuner's search, one trial at a time in this process; with parallel above 1 (and no chief oracle of
    KerasTuner's distributed tuning), up to parallel trials at once, each in a process of its own."""
    if self.parallel <= 1 or dist_utils.has_chief_oracle():
      super().search(*fit_args, **fit_kwargs)
      return
    self.on_search_begin()
    threads = max(1, (os.cpu_count() or 1) // self.parallel)
    with futures.ProcessPoolExecutor(self.parallel, mp_context=multiprocessing.get_context('spawn'),
                                     initializer=share_cores, initargs=(threads,)) as pool:
      running: Dict[futures.Future, trial_module.Trial] = {}
      slots = itertools.count()
      while True:
        while len(running) < self.parallel:
          trial = self.oracle.create_trial(f'{self.tuner_id}-{next(slots)}')
          if trial.status != trial_module.TrialStatus.RUNNING:  # STOPPED: the trials or the time are spent.
            break
          self.on_trial_begin(trial)
          running[pool.submit(train_and_validate, trial.hyperparameters.values, **fit_kwargs)] = trial
        if not running:
          break
        done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
        for future in done:
          self.end_parallel_trial(running.pop(future), future, pool)
    self.on_search_end()

  def end_parallel_trial(self, trial: trial_module.Trial, future: futures.Future,
                         pool: futures.ProcessPoolExecutor) -> None:
    """Records a finished trial's AUC with the oracle; a failed trial stops the search (see run_trial)."""
    try:
      auc = future.result()
    except Exception as e:  # pylint: disable=broad-except
      pool.shutdown(wait=False, cancel_futures=True)
      raise keras_tuner.errors.FatalError(f'trial {trial.trial_id} failed: {e!r}') from e
    self.oracle.update_trial(trial.trial_id, {OBJECTIVE: auc})
    trial.status = trial_module.TrialStatus.COMPLETED
    self.on_trial_end(trial)

  def run_trial(self, trial: trial_module.Trial, *, train_files: List[str], transform_graph_path: str,
                train_steps: int) -> Dict[str, float]:
    """Trains the model of the trial's values for train_steps on the training part; its AUC on the validation part.

    Any error stops the search (FatalError): every value of the space builds and trains (tests/models), so an
    error is a bug, not a bad trial to skip.
    """
    try:
      return {OBJECTIVE: train_and_validate(trial.hyperparameters.values, train_files, transform_graph_path,
                                            train_steps)}
    except Exception as e:  # pylint: disable=broad-except
      raise keras_tuner.errors.FatalError(f'trial {trial.trial_id} failed: {e!r}') from e


def train_and_validate(values: Mapping[str, Any], train_files: List[str], transform_graph_path: str,
                       train_steps: int, folds: int = FOLDS) -> float:
  """The mean validation AUC over the folds of models of the given searched values, each after train_steps steps."""
  hparams = hyperparameters.to_hparams(values)
  tf_transform_output = tft.TFTransformOutput(transform_graph_path)
  files = record_files(train_files)
  sizes = cardinalities(tf_transform_output)
  aucs = []
  for fold in range(folds):
    keras.backend.clear_session()
    keras.utils.set_random_seed(hparams.seed)
    model = build_model(sizes, hparams, decay_steps=train_steps)
    model.fit(part_dataset(files, tf_transform_output, hparams, fold, validation=False), steps_per_epoch=train_steps,
              epochs=1, verbose=2)
    metrics = model.evaluate(part_dataset(files, tf_transform_output, hparams, fold, validation=True), verbose=2,
                             return_dict=True)
    aucs.append(float(metrics['auc']))
  return sum(aucs) / len(aucs)


def create_tuner(working_dir: str, trials: int, seconds: float, parallel: int = 1) -> TfKerasSearch:
  """The search over the declared space, its state under working_dir, parallel trials at once."""
  oracle = TimedSearchOracle(
      seconds=seconds, objective=keras_tuner.Objective(OBJECTIVE, direction='max'), max_trials=trials,
      hyperparameters=hyperparameters.search_space(), allow_new_entries=False, tune_new_entries=False,
      seed=HParams().seed)
  return TfKerasSearch(oracle=oracle, directory=working_dir, project_name='search', overwrite=True,
                       parallel=parallel)


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
  """TFX's Tuner entry point: the search and what its trials train on (the train split, fn_args.train_steps)."""
  problems = contract_problems()
  if problems:
    raise RuntimeError('; '.join(problems))
  config = fn_args.custom_config
  tuner = create_tuner(fn_args.working_dir, int(config[TUNER_TRIALS_KEY]), float(config[TUNER_SECONDS_KEY]),
                       int(config.get(TUNER_PARALLEL_KEY, 1)))
  return TunerFnResult(tuner=tuner, fit_kwargs={
      'train_files': list(fn_args.train_files), 'transform_graph_path': fn_args.transform_graph_path,
      'train_steps': fn_args.train_steps})
