"""schema/schema.pbtxt: the curated schema treats NaN and infinities in numeric columns as the bad values they are."""
import math

import pyarrow as pa
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl

from conftest import REPO_ROOT, taxi_rows
from preprocessing import features
from preprocessing.features import RawType

SCHEMA = tfdv.load_schema_text(str(REPO_ROOT / 'schema' / 'schema.pbtxt'))


def test_every_float_column_disallows_nan_and_infinities():
  floats = {f.name for f in features.FEATURES if f.raw_type == RawType.FLOAT}
  declared = {f.name: f for f in SCHEMA.feature}
  assert floats and floats <= set(declared)
  for name in floats:
    domain = declared[name].float_domain
    assert domain.disallow_nan and domain.disallow_inf, name


def statistics(fares):
  """TFDV's statistics of 300 examples of the float columns, as ExampleGen writes them, with these first fares."""
  header, rows = taxi_rows()
  columns = {}
  for name in (f.name for f in features.FEATURES if f.raw_type == RawType.FLOAT):
    values = [[float(r[header.index(name)])] if r[header.index(name)] else [] for r in rows[:300]]
    if name == features.FARE:
      values[:len(fares)] = [[fare] for fare in fares]
    columns[name] = pa.array(values, pa.list_(pa.float32()))
  return stats_impl.generate_statistics_in_memory(pa.RecordBatch.from_pydict(columns), tfdv.StatsOptions())


@pytest.mark.parametrize('bad, description', [(math.nan, 'NaN'), (math.inf, 'Inf'), (-math.inf, 'Inf')])
def test_a_non_finite_fare_is_an_anomaly(bad, description):
  anomalies = tfdv.validate_statistics(statistics([bad] * 3), SCHEMA)
  assert f'Float feature has {description} values' in anomalies.anomaly_info[features.FARE].description


def test_finite_fares_are_not_an_anomaly():
  anomalies = tfdv.validate_statistics(statistics([12.5]), SCHEMA)
  assert features.FARE not in anomalies.anomaly_info
