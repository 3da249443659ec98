"""notebooks/: each one executed headless (nbclient, ipykernel) against the shared small run."""
import re

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import E2E_ROWS, REPO_ROOT
from pipeline import config as config_lib
from pipeline import metadata
from pipeline.lineage import queries
from pipeline.reporting import analysis, run_summary

NOTEBOOKS = REPO_ROOT / 'notebooks'


def execute(name: str, output_root, monkeypatch) -> nbformat.NotebookNode:
  """Runs a notebook from its folder, as Jupyter would, with PIPELINE_OUTPUT_ROOT set; raises on any error."""
  monkeypatch.setenv('PIPELINE_OUTPUT_ROOT', str(output_root))
  monkeypatch.delenv('PIPELINE_METADATA_URI', raising=False)
  notebook = nbformat.read(NOTEBOOKS / f'{name}.ipynb', as_version=4)
  NotebookClient(notebook, timeout=600, kernel_name='python3',
                 resources={'metadata': {'path': str(NOTEBOOKS)}}).execute()
  return notebook


def outputs(notebook, mime: str):
  """Every output of a type: 'stream' for printed text, else a MIME type of displayed data."""
  for cell in notebook.cells:
    for output in cell.get('outputs', []):
      if mime == 'stream' and output.output_type == 'stream' and output.name == 'stdout':
        yield output.text
      elif mime in output.get('data', {}):
        yield output.data[mime]


def numbers(html: str) -> list[float]:
  """Every decimal number shown in table cells, as pandas rendered it (0.91522 for 0.915220)."""
  return [float(cell) for cell in re.findall(r'<td>(-?\d+\.\d+)</td>', html)]


@pytest.fixture(scope='module')
def store(e2e_run):
  return metadata.open_uri(str(e2e_run[0] / config_lib.METADATA_FILE))


def test_model_analysis_shows_the_latest_evaluation_per_slice_and_its_validation(e2e_run, store, monkeypatch):
  notebook = execute('model_analysis', e2e_run[0], monkeypatch)
  evaluation = metadata.latest_artifact(store, 'ModelEvaluation')
  metrics = run_summary.read_metrics(evaluation.uri)
  text = ''.join(outputs(notebook, 'stream'))
  html = ''.join(outputs(notebook, 'text/html'))
  assert f'Evaluation {evaluation.id}: {evaluation.uri}' in text
  assert any(abs(value - metrics[()]['auc']) < 5e-7 for value in numbers(html))  # pandas drops trailing zeros
  for column in ('company', 'payment_type', 'trip_start_hour'):
    assert f'<th>{column}</th>' in html
  assert len(list(outputs(notebook, 'image/png'))) == 1 + 3  # overall, then one chart per slice column
  assert 'Blessing: BLESSED' in text and 'Validation ok: True' in text
  assert '(none: every threshold was met)' in html
  assert list(outputs(notebook, 'application/vnd.jupyter.widget-view+json'))  # TFMA's widget, for classic Notebook


def test_data_validation_shows_both_splits_and_the_anomalies(e2e_run, store, monkeypatch):
  notebook = execute('data_validation', e2e_run[0], monkeypatch)
  text = ''.join(outputs(notebook, 'stream'))
  html = ''.join(outputs(notebook, 'text/html'))
  statistics = metadata.latest_artifact(store, 'ExampleStatistics')
  train, eval_ = (analysis.load_statistics(statistics.uri, split).num_examples for split in ('train', 'eval'))
  assert train + eval_ == E2E_ROWS
  assert f'<td>{train}</td>' in html and f'<td>{eval_}</td>' in html
  assert 'count train' in html and 'count eval' in html and '<th>fare</th>' in html
  assert 'ExampleAnomalies' in text and ': 0 anomalies' in text
  assert len(list(outputs(notebook, 'image/png'))) >= 3


def test_lineage_answers_the_questions_interactively(e2e_run, store, monkeypatch):
  notebook = execute('lineage', e2e_run[0], monkeypatch)
  text = ''.join(outputs(notebook, 'stream'))
  html = ''.join(outputs(notebook, 'text/html'))
  chain = queries.model_lineage(store)
  assert f'models trained on them: Model {chain.model.id}' in text
  assert all(a.uri in html for a in chain.chain)
  first_run = metadata.run_contexts(store, config_lib.PIPELINE_NAME)[-1].name
  assert 'PushedModel' in html and first_run in html
  assert len(list(outputs(notebook, 'image/png'))) == 1  # the DAG
