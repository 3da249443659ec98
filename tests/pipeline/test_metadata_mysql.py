"""--metadata-uri: URI parsing, and two local runs recorded in a real MariaDB server, read back by pipeline.lineage.

The server is installed with apt when missing and runs on a free loopback port with a throwaway data dir.
"""
import json
import logging
import os
import subprocess
import sys

import pytest

import mariadb_server
from conftest import EXPECTED_NODES, REPO_ROOT, taxi_rows, write_csv
from pipeline import config as config_lib
from pipeline import metadata
from pipeline.gates import drift

MYSQL_ROWS = 600
FIRST_STEPS, SECOND_STEPS = 10, 20
PUSHING_ROWS = 3000  # as the end-to-end run, whose model is blessed and pushed.
DATA_NODES = ('CsvExampleGen', 'CuratedSchemaGen', 'StatisticsGen', 'Transform')
RERUN = {'Trainer.model', 'Trainer.model_run', 'Evaluator.evaluation', 'Evaluator.blessing', 'Pusher.pushed_model'}


def test_metadata_uri_is_a_sqlite_path_or_a_mysql_url():
  assert metadata.metadata_config('out/metadata.db').sqlite.filename_uri == os.path.abspath('out/metadata.db')
  assert metadata.metadata_config('sqlite:///tmp/m.db').sqlite.filename_uri == '/tmp/m.db'
  mysql = metadata.metadata_config('mysql://ml%40team:p%3Aw@127.0.0.1:3307/mlmd', environ={}).mysql
  assert (mysql.host, mysql.port, mysql.database, mysql.user, mysql.password) == (
      '127.0.0.1', 3307, 'mlmd', 'ml@team', 'p:w')
  from_env = metadata.metadata_config('mysql://tfx@db.internal/mlmd', {metadata.MYSQL_PASSWORD_ENV: 's3'})
  assert (from_env.mysql.port, from_env.mysql.password) == (3306, 's3')
  assert metadata.redact_uri('mysql://tfx:s3cr3t@h:1/db') == 'mysql://tfx:***@h:1/db'
  assert metadata.describe_metadata(from_env) == 'mysql://tfx@db.internal:3306/mlmd'
  for bad in ('mysql://tfx:s3cr3t@h:1', 'postgresql://tfx:s3cr3t@h/db'):
    with pytest.raises(ValueError) as error:
      metadata.metadata_config(bad)
    assert 's3cr3t' not in str(error.value) and '***' in str(error.value)


def test_local_config_keeps_sqlite_as_the_default(tmp_path):
  default = config_lib.local_config(str(tmp_path), str(tmp_path), 1, True, 1)
  assert default.metadata_connection_config == metadata.sqlite_metadata(str(tmp_path / 'metadata.db'))
  shared = config_lib.local_config(str(tmp_path), str(tmp_path), 1, True, 1, metadata_uri='mysql://u:p@h:1/d')
  assert shared.metadata_connection_config.mysql.database == 'd'


def test_the_password_is_masked_in_every_log_record(caplog):
  connection = metadata.metadata_config('mysql://u:pa"ss@127.0.0.1:1/d')
  factory = logging.getLogRecordFactory()
  try:
    metadata.keep_password_out_of_logs(connection)
    with caplog.at_level(logging.INFO):
      logging.getLogger('tfx').info('Using connection config:\n %s', connection)
  finally:
    logging.setLogRecordFactory(factory)
  assert 'password: "***"' in caplog.text and 'pa"ss' not in caplog.text and 'pa\\"ss' not in caplog.text


@pytest.fixture(scope='module')
def mariadb(tmp_path_factory):
  mariadb_server.require_installed()
  server = mariadb_server.start(tmp_path_factory.mktemp('mariadb'))
  yield server
  mariadb_server.stop(server)


def with_password(server: mariadb_server.Server) -> dict:
  """The environment with the password where --metadata-uri looks for it, so no command line holds it."""
  return {**os.environ, metadata.MYSQL_PASSWORD_ENV: server.password}


def run_local(server: mariadb_server.Server, *args: str) -> subprocess.CompletedProcess:
  process = subprocess.run([sys.executable, 'local_runner.py', '--metadata-uri', server.uri(), *args],
                           cwd=REPO_ROOT, env=with_password(server), capture_output=True, text=True, timeout=1800,
                           check=False)
  assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
  return process


def ask(server: mariadb_server.Server, *args: str):
  """python -m pipeline.lineage --json against the server."""
  process = subprocess.run([sys.executable, '-m', 'pipeline.lineage', '--metadata-uri', server.uri(), '--json',
                            *args], cwd=REPO_ROOT, env=with_password(server), capture_output=True, text=True,
                           timeout=300, check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  assert server.password not in process.stdout + process.stderr
  return json.loads(process.stdout)


@pytest.fixture(scope='module')
def mysql_runs(mariadb, tmp_path_factory):
  """Two runs on a tiny sample into the server: the second trains longer. (output root, data root, processes)"""
  header, rows = taxi_rows()
  data_root = write_csv(tmp_path_factory.mktemp('mysql_data') / 'data' / 'data.csv', header, rows[:MYSQL_ROWS])
  output_root = tmp_path_factory.mktemp('mysql_run')
  common = ('--data-root', str(data_root), '--output-root', str(output_root))
  first = run_local(mariadb, *common, '--train-steps', str(FIRST_STEPS), '--verbose')
  second = run_local(mariadb, *common, '--train-steps', str(SECOND_STEPS))
  return output_root, data_root, (first, second)


def test_runs_go_to_mysql_and_the_second_one_reuses_the_cache(mariadb, mysql_runs):
  output_root, _, _ = mysql_runs
  assert not (output_root / config_lib.METADATA_FILE).exists()
  newest, oldest = ask(mariadb, 'runs')
  assert [(r['status'], r['failed']) for r in (oldest, newest)] == [('COMPLETE', [])] * 2
  assert oldest['cached'] == [] and oldest['components'] == newest['components'] >= len(EXPECTED_NODES)
  assert set(DATA_NODES) <= set(newest['cached']) and not {'Trainer', 'Evaluator'} & set(newest['cached'])
  assert newest['metrics']['example_count'] == oldest['metrics']['example_count'] > 0


def test_diff_and_model_lineage_over_mysql(mariadb, mysql_runs):
  _, data_root, _ = mysql_runs
  diff = ask(mariadb, 'diff', 'latest~1', 'latest')
  assert diff['parameters'] == [{'what': 'Trainer.train_args.num_steps', 'a': str(FIRST_STEPS),
                                 'b': str(SECOND_STEPS)}]
  assert not [c for c in diff['inputs'] if c['what'].startswith(DATA_NODES + ('Trainer.',))], diff['inputs']
  outputs = {c['what'] for c in diff['outputs']}
  assert RERUN <= outputs and not [c for c in outputs if c.startswith(DATA_NODES)], outputs
  assert diff['schema'] == [] and any(m['slice'] == 'overall' for m in diff['metrics'])
  model_id = int(next(c['b'] for c in diff['outputs'] if c['what'] == 'Trainer.model').split()[-1])
  chain = ask(mariadb, 'model', str(model_id))
  assert chain['inputs'][0]['files'] == [str(data_root / 'data.csv')]
  assert chain['model']['made_by']['run_id'] == diff['run_b']
  assert {'Examples', 'ExampleStatistics', 'Schema', 'ExampleAnomalies', 'TransformGraph', 'Model',
          'ModelEvaluation', 'ModelBlessing', 'PushedModel'} == {a['type'] for a in chain['chain']}


def test_the_password_is_never_printed_logged_or_stored(mariadb, mysql_runs):
  output_root, _, (first, second) = mysql_runs
  secret = mariadb.password
  assert 'password: "***"' in first.stderr  # --verbose: TFX logged the connection config, masked
  for process in (first, second):
    assert secret not in process.stdout + process.stderr
  for path in output_root.rglob('*'):
    if path.is_file():
      assert secret.encode() not in path.read_bytes(), path
  assert secret not in mariadb_server.dump(mariadb)
  assert f'mysql://{mariadb.user}@127.0.0.1:{mariadb.port}/{mariadb.database}' in (
      output_root / 'report.html').read_text()


def test_another_output_root_on_the_store_never_takes_this_ones_baseline_or_drift_reference(mariadb, mysql_runs,
                                                                                           tmp_path):
  header, rows = taxi_rows()
  data_root = write_csv(tmp_path / 'data' / 'data.csv', header, rows[:PUSHING_ROWS])
  first_root, other_root = tmp_path / 'first', tmp_path / 'other'
  run_local(mariadb, '--data-root', str(data_root), '--output-root', str(first_root))
  store = metadata.open_store(metadata.metadata_config(mariadb.uri(with_password=True)), read_only=True)
  first_pipeline_root = str(first_root / 'pipeline')
  assert metadata.pushed_models(store, config_lib.PIPELINE_NAME, first_pipeline_root), 'the first root pushed nothing'
  run_local(mariadb, '--data-root', str(data_root), '--output-root', str(other_root), '--no-cache',
            '--train-steps', str(FIRST_STEPS))
  run = metadata.latest_run_context(store, config_lib.PIPELINE_NAME)
  components = {c.node_id: c for c in metadata.component_runs(store, run.id)}
  assert components['Evaluator'].inputs.get('baseline_model', []) == []  # not the first root's blessed model
  assert components['DriftGate'].inputs.get('served_statistics', []) == []  # nor its served model's data
  assert all(metadata.under(a.uri, str(other_root)) for a in components['Trainer'].outputs['model'])
  assert drift.served_data_statistics_id(store, config_lib.PIPELINE_NAME, first_pipeline_root) is not None
