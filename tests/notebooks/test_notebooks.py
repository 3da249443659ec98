"""notebooks/: each one executed headless (nbclient, ipykernel) against the shared small run, as Jupyter runs it: from
its folder, importing the installed project."""
import os
import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import E2E_ROWS, REPO_ROOT
from pipeline import config as config_lib
from pipeline import metadata
from pipeline.lineage import queries
from pipeline.reporting import analysis, curves, run_summary

NOTEBOOKS = REPO_ROOT / 'notebooks'
NAMES = ('model_analysis', 'data_validation', 'lineage')
SCIENTIFIC = re.compile(r'\b\d+(?:\.\d+)?[eE][-+]\d+\b')  # 1.803478e-01, 5e-07 (not the e2e0 of a path)


def execute(name: str, output_root) -> nbformat.NotebookNode:
  """Runs a notebook from its folder, as Jupyter would, with PIPELINE_OUTPUT_ROOT set; raises on any error."""
  with pytest.MonkeyPatch.context() as environment:
    environment.setenv('PIPELINE_OUTPUT_ROOT', str(output_root))
    environment.delenv('PIPELINE_METADATA_URI', raising=False)
    environment.delenv('TF_CPP_MIN_LOG_LEVEL', raising=False)  # as in a fresh shell: the notebook must quiet TF
    notebook = nbformat.read(NOTEBOOKS / f'{name}.ipynb', as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name='python3',
                   resources={'metadata': {'path': str(NOTEBOOKS)}}).execute()
  return notebook


@pytest.fixture(scope='module')
def executed(e2e_run):
  """Each notebook, executed once against the shared run."""
  return {name: execute(name, e2e_run[0]) for name in NAMES}


def outputs(notebook, mime: str):
  """Every output of a type: 'stream' for printed text, 'stderr' for text on stderr, else a MIME type of displayed
  data."""
  for cell in notebook.cells:
    for output in cell.get('outputs', []):
      if mime in ('stream', 'stderr') and output.output_type == 'stream':
        if output.name == {'stream': 'stdout', 'stderr': 'stderr'}[mime]:
          yield output.text
      elif mime in output.get('data', {}):
        yield output.data[mime]


@pytest.fixture(scope='module')
def store(e2e_run):
  return metadata.open_uri(str(e2e_run[0] / config_lib.METADATA_FILE))


def test_the_project_is_installed_so_notebooks_import_it_from_their_folder():
  environment = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  found = subprocess.run([sys.executable, '-c', 'import pipeline.reporting.notebook, sys; '
                          'print(sys.modules["pipeline"].__file__)'], cwd=NOTEBOOKS, env=environment,
                         capture_output=True, text=True, timeout=300, check=False)
  assert found.returncode == 0, f'install the project into the environment (make venv): {found.stderr[-2000:]}'
  assert found.stdout.strip() == str(REPO_ROOT / 'pipeline' / '__init__.py')  # this checkout, editable


@pytest.mark.parametrize('name', NAMES)
def test_each_notebook_starts_with_one_import_and_one_call(name):
  notebook = nbformat.read(NOTEBOOKS / f'{name}.ipynb', as_version=4)
  code = [cell.source for cell in notebook.cells if cell.cell_type == 'code']
  assert code[0].splitlines() == ['from pipeline.reporting import notebook', 'nb = notebook.start()']
  for source in code:
    assert 'sys.path' not in source and 'REPO_ROOT' not in source and '%matplotlib' not in source


@pytest.mark.parametrize('name', NAMES)
def test_no_notebook_prints_on_stderr_or_shows_numbers_in_scientific_notation(executed, name):
  notebook = executed[name]
  assert not list(outputs(notebook, 'stderr'))
  for mime in ('text/html', 'text/plain'):
    shown = [found.group() for table in outputs(notebook, mime) for found in SCIENTIFIC.finditer(table)]
    assert not shown, (mime, shown[:5])


def test_model_analysis_shows_the_latest_evaluation_per_slice_and_its_validation(executed, store):
  notebook = executed['model_analysis']
  evaluation = metadata.latest_artifact(store, 'ModelEvaluation')
  metrics = run_summary.read_metrics(evaluation.uri)
  text = ''.join(outputs(notebook, 'stream'))
  html = ''.join(outputs(notebook, 'text/html'))
  assert f'Evaluation {evaluation.id}: {evaluation.uri}' in text
  overall = metrics[()]
  assert f'<td>{overall["auc"]:.4f}</td>' in html and f'<td>{overall["mean_prediction"]:.4f}</td>' in html
  low, high = curves.auc_interval(overall['auc'], *curves.class_counts(overall))
  assert f'<td>{overall["auc"]:.4f}</td>\n      <td>{low:.4f}</td>\n      <td>{high:.4f}</td>' in html
  for column in ('company', 'payment_type', 'trip_start_hour'):
    assert f'<th>{column}</th>' in html
  assert html.count(f'<th>{analysis.AUC_LOW}</th>') == 1 + 3 + 1  # overall, each column, the worst slices
  assert len(list(outputs(notebook, 'image/png'))) == 1 + 1 + 3 + 1  # overall, curves, each column, runs' AUC
  plots = curves.read_plots(evaluation.uri)[()]
  at_half = curves.at_threshold(plots.matrices, 0.5)
  counts = ''.join(rf'\s*<td>{int(at_half[k])}</td>' for k in ('true_positives', 'false_positives',
                                                                'true_negatives', 'false_negatives'))
  assert re.search(r'<th>0\.5000</th>' + counts, html)
  first_run = metadata.run_contexts(store, config_lib.PIPELINE_NAME)[-1].name
  assert f'<th>{first_run}</th>' in html
  assert 'Blessing: BLESSED' in text and 'Validation ok: True' in text
  assert '(none: every threshold was met)' in html
  assert list(outputs(notebook, 'application/vnd.jupyter.widget-view+json'))  # TFMA's widget, for classic Notebook


def test_data_validation_shows_both_splits_and_the_anomalies(executed, store):
  notebook = executed['data_validation']
  text = ''.join(outputs(notebook, 'stream'))
  html = ''.join(outputs(notebook, 'text/html'))
  statistics = metadata.latest_artifact(store, 'ExampleStatistics')
  train, eval_ = (analysis.load_statistics(statistics.uri, split).num_examples for split in ('train', 'eval'))
  assert train + eval_ == E2E_ROWS
  assert f'<td>{train}</td>' in html and f'<td>{eval_}</td>' in html
  assert 'count train' in html and 'count eval' in html and '<th>fare</th>' in html
  fare = analysis.statistics_table(analysis.load_statistics(statistics.uri, 'train')).loc['fare']
  assert f'<td>{fare["mean"]:.4f}</td>' in html
  assert 'ExampleAnomalies' in text and ': 0 anomalies' in text
  assert len(list(outputs(notebook, 'image/png'))) >= 3


def test_lineage_answers_the_questions_interactively(executed, store):
  notebook = executed['lineage']
  text = ''.join(outputs(notebook, 'stream'))
  html = ''.join(outputs(notebook, 'text/html'))
  chain = queries.model_lineage(store)
  assert f'models trained on them: Model {chain.model.id}' in text
  assert all(a.uri in html for a in chain.chain)
  first_run = queries.list_runs(store, config_lib.PIPELINE_NAME, limit=10)[-1]
  assert 'PushedModel' in html and f'<th>{first_run.run_id}</th>' in html
  assert f'<td>{first_run.auc:.4f}</td>' in html and '<th>auc change</th>' in html
  assert len(list(outputs(notebook, 'image/png'))) == 1  # the DAG
