"""What the notebooks in notebooks/ start with, in their first cell:

  from pipeline.reporting import notebook
  nb = notebook.start()

Importing this module quiets what a kernel would otherwise print in red: it sets TF_CPP_MIN_LOG_LEVEL before
TensorFlow loads (TensorFlow's C++ log of its CUDA plugin registration), and ignores the deprecation and version
notices of the libraries. start() opens the metadata store, makes tables show numbers as the report does and
charts render inline. The store: PIPELINE_METADATA_URI when set (mysql://... takes $MLMD_MYSQL_PASSWORD), else the
metadata.db of PIPELINE_OUTPUT_ROOT (default outputs/, relative to the repository).
"""
import os
import warnings


def quiet_libraries() -> None:
  """No red in the notebooks: TensorFlow's C++ log (its CUDA plugin registration logs errors on machines without a
  GPU) off, and the libraries' deprecation and version notices ignored. Before TensorFlow loads."""
  os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
  for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning, UserWarning):
    warnings.filterwarnings('ignore', category=category)


quiet_libraries()

from models import keras_choice

keras_choice.use_tf_keras()  # before TensorFlow is imported

import dataclasses
import logging
import math
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import pandas as pd
from matplotlib.figure import Figure

from pipeline import config as config_lib
from pipeline import metadata
from pipeline.evaluation import metric_names
from pipeline.lineage import queries, text
from pipeline.reporting import analysis, curves, run_summary

OUTPUT_ROOT_ENV = 'PIPELINE_OUTPUT_ROOT'
METADATA_URI_ENV = 'PIPELINE_METADATA_URI'
QUIET_LOGGERS = ('tensorflow', 'absl', 'apache_beam')


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """An Evaluator's output as the notebooks show it: metrics and plots per slice, validation and blessing."""
  artifact: metadata.Artifact
  made: queries.ArtifactRef
  model: metadata.Artifact
  metrics: analysis.MetricsBySlice
  plots: Dict[curves.SliceKey, curves.SlicePlots]
  blessed: Optional[bool]
  validation_ok: bool
  failures: List[str]

  def describe(self) -> str:
    """Which evaluation this is, who made it and of which model."""
    return '\n'.join([f'Evaluation {self.artifact.id}: {self.artifact.uri}',
                      f'made by {text.made_by_text(self.made.made_by)} at {self.made.created}',
                      f'of Model {self.model.id}: {self.model.uri}'])

  @property
  def overall_auc(self) -> float:
    return self.metrics.get((), {}).get(metric_names.AUC, math.nan)

  def failures_table(self) -> pd.DataFrame:
    """The thresholds the model failed, one a row."""
    return pd.DataFrame({'failed threshold': self.failures or ['(none: every threshold was met)']})


@dataclasses.dataclass(frozen=True)
class Notebook:
  """The store the notebooks read, and the questions they ask of it."""
  store: metadata.Store
  metadata_uri: str
  output_root: Path
  pipeline_name: str = config_lib.PIPELINE_NAME

  def latest_evaluation(self) -> Evaluation:
    """The newest evaluation recorded, with its metrics, plots, validation and blessing."""
    import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
    artifact = metadata.latest_artifact(self.store, 'ModelEvaluation')
    if artifact is None:
      raise LookupError(f'No evaluation recorded in {metadata.redact_uri(self.metadata_uri)}: run the pipeline '
                        'first.')
    evaluator, _ = metadata.producer(self.store, artifact.id)
    blessing = dict(metadata.linked_artifacts(self.store, evaluator.id, metadata.MADE)).get('blessing')
    return Evaluation(artifact, queries.artifact_ref(self.store, artifact), queries.model_of(self.store, artifact),
                      run_summary.read_metrics(artifact.uri), curves.read_plots(artifact.uri),
                      None if blessing is None else bool(metadata.int_property(blessing, 'blessed')),
                      tfma.load_validation_result(artifact.uri).validation_ok,
                      run_summary.read_validation_failures(artifact.uri))

  def runs(self, limit: int = 10) -> List[queries.RunInfo]:
    """The newest runs, newest first, as `python -m pipeline.lineage runs` lists them."""
    return queries.list_runs(self.store, self.pipeline_name, limit)


def output_root(environ: Mapping[str, str] = os.environ) -> Path:
  """PIPELINE_OUTPUT_ROOT (default outputs/), relative to the repository unless absolute."""
  return config_lib.REPO_ROOT / environ.get(OUTPUT_ROOT_ENV, config_lib.DEFAULT_OUTPUT_ROOT)


def metadata_uri(environ: Mapping[str, str] = os.environ) -> str:
  """PIPELINE_METADATA_URI, else the output root's metadata.db."""
  return environ.get(METADATA_URI_ENV) or str(output_root(environ) / config_lib.METADATA_FILE)


def show_tables_and_charts() -> None:
  """Tables with numbers as in the report (fixed decimals, never 1.8e-01), charts inline, library logs quiet."""
  pd.set_option('display.float_format', analysis.format_number)
  pd.set_option('display.max_rows', 100)
  pd.set_option('display.max_colwidth', None)
  pd.set_option('display.width', 200)
  for name in QUIET_LOGGERS:
    logging.getLogger(name).setLevel(logging.ERROR)
  from IPython import get_ipython  # pylint: disable=g-import-not-at-top
  shell = get_ipython()
  if shell is not None:
    shell.run_line_magic('matplotlib', 'inline')


def start() -> Notebook:
  """The notebooks' first call: opens the store (read-only) and sets up the display; prints which store."""
  show_tables_and_charts()
  uri = metadata_uri()
  print('Metadata:', metadata.redact_uri(uri))
  return Notebook(metadata.open_uri(uri), uri, output_root())


def runs_table(runs: List[queries.RunInfo]) -> pd.DataFrame:
  """Runs (newest first) with their status, overall AUC and its change from the run before, blessing and push."""
  columns = ['run', 'started', 'status', 'seconds', 'cached', 'failed', 'auc', 'auc change', 'blessed', 'pushed']
  rows = [[r.run_id, r.started, r.status, r.seconds, f'{len(r.cached)}/{r.components}', ', '.join(r.failed),
           math.nan if r.auc is None else r.auc, math.nan if r.auc_change is None else r.auc_change, r.blessed,
           r.pushed_path or ''] for r in runs]
  return pd.DataFrame(rows, columns=columns).set_index('run')


def auc_trend_chart(runs: List[queries.RunInfo]) -> Figure:
  """The overall AUC of runs listed newest first, drawn oldest first."""
  trend = queries.auc_trend(runs)
  return analysis.auc_trend_chart([run for run, _ in trend], [math.nan if auc is None else auc for _, auc in trend])


def worst_slices_table(metrics: analysis.MetricsBySlice) -> pd.DataFrame:
  """Per slice column, its lowest AUC among slices with enough examples of both classes, with the AUC's interval."""
  worst = f'worst slice (at least {run_summary.MIN_SLICE_EXAMPLES} examples, both labels)'
  rows = []
  for column, (name, value, count) in sorted(run_summary.worst_slices(metrics).items()):
    values = next(v for key, v in metrics.items() if len(key) == 1 and run_summary.slice_name(key) == name)
    low, high = curves.auc_interval(value, *curves.class_counts(values))
    rows.append([column, name, value, low, high, count])
  columns = ['column', worst, metric_names.AUC, analysis.AUC_LOW, analysis.AUC_HIGH, metric_names.EXAMPLE_COUNT]
  return pd.DataFrame(rows, columns=columns).set_index('column')
