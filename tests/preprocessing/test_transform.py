"""preprocessing_fn through real tf.Transform on hand-made rows: every kind of transformed value is checked."""
import math
import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from pipeline.config import SCHEMA_FILE
from pipeline.dag import TRANSFORM_TF_COMPAT_V1
from preprocessing import features
from preprocessing.transform import preprocessing_fn


def raw_row(**values):
  """A raw instance in the curated schema's feature spec: every column a list of zero or one values."""
  defaults = dict(fare=10.0, trip_miles=2.0, trip_seconds=600, pickup_latitude=41.9, pickup_longitude=-87.6,
                  dropoff_latitude=41.9, dropoff_longitude=-87.6, trip_start_hour=12, trip_start_day=3,
                  trip_start_month=5, pickup_community_area=8, dropoff_community_area=32,
                  payment_type='Cash', company='Flash Cab', trip_start_timestamp=1400000000,
                  pickup_census_tract=None, dropoff_census_tract=None, tips=0.0)
  defaults.update(values)
  return {k: [] if v is None else [v.encode() if isinstance(v, str) else v] for k, v in defaults.items()}


TRAIN_ROWS = [
    raw_row(fare=5.0, tips=2.0, payment_type='Credit Card', company='Flash Cab', trip_start_hour=1),
    raw_row(fare=10.0, tips=0.0, payment_type='Cash', company='Flash Cab', pickup_latitude=None),
    raw_row(fare=20.0, tips=4.0, payment_type='Cash', company=None, trip_start_hour=23),
    raw_row(fare=40.0, tips=9.0, payment_type='Cash', company='Blue Cab'),
]
UNSEEN_ROW = raw_row(fare=10.0, tips=3.0, payment_type='Bitcoin', company='Blue Cab', trip_start_hour=24,
                     pickup_community_area=None)


@pytest.fixture(scope='module')
def transformed():
  """(transformed TRAIN_ROWS, transformed UNSEEN_ROW, TFTransformOutput-like vocabularies)."""
  schema = tfdv.load_schema_text(str(SCHEMA_FILE))
  metadata = dataset_metadata.DatasetMetadata(schema)
  with tempfile.TemporaryDirectory() as temp_dir, tft_beam.Context(
      temp_dir=temp_dir, force_tf_compat_v1=TRANSFORM_TF_COMPAT_V1):
    (train, _), transform_fn = ((TRAIN_ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn))
    unseen, _ = (([UNSEEN_ROW], metadata), transform_fn) | tft_beam.TransformDataset()
  return train, unseen[0]


def test_feature_spec_from_schema_covers_every_declared_feature():
  spec = schema_utils.schema_as_feature_spec(tfdv.load_schema_text(str(SCHEMA_FILE))).feature_spec
  assert set(spec) == {f.name for f in features.FEATURES}


def test_numeric_columns_are_z_scores_of_log1p(transformed):
  train, _ = transformed
  logs = np.log1p([5.0, 10.0, 20.0, 40.0])
  expected = (logs - logs.mean()) / logs.std()
  np.testing.assert_allclose([row['fare_z'] for row in train], expected, rtol=1e-4)


def test_missing_numeric_value_is_imputed_with_the_mean(transformed):
  train, _ = transformed
  assert train[1]['pickup_latitude_z'] == pytest.approx(0.0, abs=1e-5)


def test_bucket_ids_follow_quantiles(transformed):
  train, _ = transformed
  buckets = [row['fare_bucket'] for row in train]
  assert buckets == sorted(buckets) and buckets[0] < buckets[-1]
  assert all(0 <= b < features.feature('fare').buckets for b in buckets)


def test_vocabulary_ids_by_frequency_and_oov(transformed):
  train, unseen = transformed
  payment_ids = [row['payment_type_id'] for row in train]
  assert payment_ids == [1, 0, 0, 0]  # Cash is most frequent: id 0.
  vocabulary_size = 2
  oov = features.feature('payment_type').oov_buckets
  assert vocabulary_size <= unseen['payment_type_id'] < vocabulary_size + oov


def test_integer_categories_are_their_value_in_the_declared_range(transformed):
  train, unseen = transformed
  assert [row['trip_start_hour_id'] for row in train] == [1, 12, 23, 12]
  assert [row['pickup_community_area_id'] for row in train] == [7] * 4  # areas start at 1.
  assert unseen['trip_start_hour_id'] == 24  # outside 0-23: the one extra id.
  assert unseen['pickup_community_area_id'] == 77  # absent: the extra id after areas 1-77.


def test_declared_id_ranges_are_the_schema_domains():
  schema = tfdv.load_schema_text(str(SCHEMA_FILE))
  for f in features.FEATURES:
    if f.id_range:
      domain = tfdv.get_feature(schema, f.name).int_domain
      assert f.id_range == (domain.min, domain.max), f.name


def test_missing_category_is_its_own_value(transformed):
  train, _ = transformed
  company_ids = [row['company_id'] for row in train]
  assert company_ids[2] not in (company_ids[0], company_ids[3])  # MISSING_CATEGORY, not Flash or Blue.


def test_crosses_hash_the_joined_ids(transformed):
  train, _ = transformed
  cross = next(c for c in features.CROSSES if c.name == 'hour_x_weekday')
  for row in train:
    joined = f"{row['trip_start_hour_id']}_x_{row['trip_start_day_id']}"
    expected = tf.strings.to_hash_bucket_fast(joined, cross.hash_buckets).numpy()
    assert row['hour_x_weekday'] == expected


def test_label_is_tip_above_a_fifth_of_fare(transformed):
  train, unseen = transformed
  assert [row[features.LABEL_KEY] for row in train] == [1, 0, 0, 1]
  assert unseen[features.LABEL_KEY] == 1


def test_outputs_are_exactly_the_declared_transformed_features(transformed):
  train, _ = transformed
  declared = {spec.key for spec in features.transformed_features()} | {features.LABEL_KEY}
  assert set(train[0]) == declared
  assert all(not math.isnan(v) for row in train for k, v in row.items() if k.endswith('_z'))
