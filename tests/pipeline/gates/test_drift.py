"""Drift against the data behind the served model: found through MLMD, stopped, or deliberately accepted."""
import pytest
import tensorflow_data_validation as tfdv
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from conftest import latest_run, run_local, taxi_rows, tree_digest, write_csv
from pipeline import config as config_lib
from pipeline import metadata
from pipeline.gates import drift
from pipeline.local import exit_codes

FARE_FACTOR = 4


def inflated_fares(tmp_path, first, last):
  """Rows first..last of the sample with every fare and tip multiplied by FARE_FACTOR: the fares drift, the
  label (tips > 0.2 x fare) stays as it was."""
  header, rows = taxi_rows()
  scaled = {header.index('fare'), header.index('tips')}
  return write_csv(tmp_path / 'data' / 'data.csv', header,
                   [[str(float(v) * FARE_FACTOR) if i in scaled and v else v for i, v in enumerate(r)]
                    for r in rows[first:last]])


def test_statistics_behind_the_served_model_are_found_through_lineage(served_root):
  store = metadata.open_uri(str(served_root / 'metadata.db'))
  statistics = store.get_artifacts_by_id([drift.served_data_statistics_id(store)])[0]
  examples = latest_run(served_root).component('CsvExampleGen').outputs['examples'][0]
  assert statistics.type == 'ExampleStatistics'
  assert metadata.producer_inputs(store, statistics.id, 'examples') == [examples.id]
  assert drift.served_data_statistics_id(store, config_lib.PIPELINE_NAME) == statistics.id
  assert drift.served_data_statistics_id(store, 'another-pipeline') is None  # --pipeline-name keeps them apart
  assert drift.served_data_statistics_id(store, config_lib.PIPELINE_NAME, '/elsewhere/pipeline') is None


def test_the_served_statistics_are_not_resolved_for_the_data_they_describe(served_root):
  store = metadata.open_uri(str(served_root / 'metadata.db'))
  served = drift.served_data_statistics_id(store)

  def statistics(artifact_id: int) -> standard_artifacts.ExampleStatistics:
    artifact = standard_artifacts.ExampleStatistics()
    artifact.id = artifact_id
    return artifact

  def resolved(current_id: int):
    found = drift.ServedDataStatistics().resolve_artifacts(
        store, {'statistics': [statistics(served), statistics(served + 1000)], 'current': [statistics(current_id)]})
    return [a.id for a in found['statistics']], [a.id for a in found['current']]

  assert resolved(served + 1000) == ([served], [served + 1000])  # new data: compared with the served model's
  assert resolved(served) == ([], [served])  # the served model's own data: nothing to compare with


def test_nothing_is_resolved_before_the_first_push():
  store = metadata.Store(metadata_store_pb2.ConnectionConfig(fake_database={}))
  assert drift.served_data_statistics_id(store) is None


def test_same_distribution_passes_and_shifted_fares_drift(tmp_path):
  header, rows = taxi_rows()
  first = write_csv(tmp_path / 'a' / 'data.csv', header, rows[:4000])
  second = write_csv(tmp_path / 'b' / 'data.csv', header, rows[4000:8000])
  shifted = inflated_fares(tmp_path / 'c', 4000, 8000)
  schema = tfdv.load_schema_text(str(config_lib.SCHEMA_FILE))
  stats = {k: tfdv.generate_statistics_from_csv(str(d / 'data.csv')) for k, d in
           (('a', first), ('b', second), ('c', shifted))}
  assert drift.drift_anomalies(stats['b'], stats['a'], schema) == []
  found = drift.drift_anomalies(stats['c'], stats['a'], schema)
  assert [a.feature for a in found] == ['fare']
  assert 'Jensen-Shannon divergence' in found[0].description
  assert 'Served data: mean' in found[0].description and 'New data: mean' in found[0].description


def test_drifted_data_stops_the_run_unless_accepted(tmp_path, served_root):
  before = tree_digest(served_root / 'serving_model')
  data_root = inflated_fares(tmp_path, 0, 3000)
  stopped = run_local('--data-root', str(data_root), '--output-root', str(served_root))
  assert stopped.returncode == exit_codes.BAD_INPUT, stopped.stdout + stopped.stderr
  assert 'STOPPED BY THE DRIFT GATE' in stopped.stdout and 'fare' in stopped.stdout
  assert 'Jensen-Shannon' in stopped.stdout
  assert not {c.node_id for c in latest_run(served_root).components} & {'Trainer', 'Evaluator', 'Pusher'}
  assert tree_digest(served_root / 'serving_model') == before

  accepted = run_local('--data-root', str(data_root), '--output-root', str(served_root), '--accept-drift',
                       '--train-steps', '30')
  assert accepted.returncode == exit_codes.OK, accepted.stdout + accepted.stderr
  gate = latest_run(served_root).component('DriftGate')
  assert gate.state == 'COMPLETE' and gate.parameters['accept_drift'] == '1'
  assert latest_run(served_root).component('Trainer').state == 'COMPLETE'


def test_quantile_divergence_ignores_resampling_and_sees_scaled_values():
  edges = [0.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 15.0, 20.0, 31.0, 700.0]
  same = [0.0, 4.9, 6.1, 7.0, 8.1, 9.8, 12.2, 15.0, 19.5, 30.0, 110.0]  # another sample: no 700 outlier.
  doubled = [2 * e for e in edges]
  assert drift.quantile_divergence(edges, edges) == pytest.approx(0.0)
  assert drift.quantile_divergence(edges, same) < 0.02
  assert drift.quantile_divergence(edges, doubled) > 0.1  # the schema's threshold for fare.


def test_cdf_interpolates_between_quantiles_and_handles_ties():
  edges = [0.0, 0.0, 1.0, 3.0]  # a third of the values are 0.
  assert drift.cdf(edges, -1) == 0.0 and drift.cdf(edges, 3.0) == 1.0
  assert drift.cdf(edges, 0.0) == pytest.approx(1 / 3)
  assert drift.cdf(edges, 2.0) == pytest.approx(2 / 3 + 1 / 6)
