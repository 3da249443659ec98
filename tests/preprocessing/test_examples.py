"""preprocessing/examples.py: rows as the serving signature's tf.Examples, typed by the declarations."""
import pytest
import tensorflow as tf

from conftest import taxi_rows
from preprocessing import features
from preprocessing.examples import NOT_SERVED, CellError, serving_example, to_tf_example


def test_requests_leave_out_the_label_sources_declared_in_features():
  label_sources = tuple(f.name for f in features.by_kind(features.Kind.LABEL_SOURCE))
  assert label_sources and NOT_SERVED == label_sources
  assert not set(NOT_SERVED) & set(features.serving_columns())


def test_raw_examples_carry_every_served_column_but_no_label_source():
  header, rows = taxi_rows()
  row = next(r for r in rows if all(r[header.index(name)] != '' for name in (features.FARE, features.TIPS)))
  example = tf.train.Example.FromString(to_tf_example(header, row))
  present = {name for name, cell in zip(header, row) if cell != ''}
  assert set(example.features.feature) == present & set(features.serving_columns())
  assert features.TIPS not in example.features.feature
  assert example.features.feature[features.FARE].float_list.value[0] == pytest.approx(float(row[header.index('fare')]))


def test_cells_take_their_declared_types_and_undeclared_columns_are_left_out():
  header = ['trip_seconds', 'company', 'fare', 'trip_id']
  example = tf.train.Example.FromString(to_tf_example(header, ['60.0', 'Flash Cab', '7', 'x1']))
  feature = example.features.feature
  assert feature['trip_seconds'].int64_list.value == [60]
  assert feature['company'].bytes_list.value == [b'Flash Cab']
  assert feature['fare'].float_list.value == [7.0]
  assert 'trip_id' not in feature


def test_a_cell_that_is_not_its_type_names_the_column_and_value():
  with pytest.raises(CellError, match="column trip_seconds: 'ten' is not an INT value") as raised:
    to_tf_example(['fare', 'trip_seconds'], ['7', 'ten'])
  assert (raised.value.column, raised.value.value) == ('trip_seconds', 'ten')
  with pytest.raises(CellError, match="column fare: '7,5' is not a FLOAT value"):
    to_tf_example(['fare'], ['7,5'])


def test_serving_example_removes_the_label_sources_of_a_training_example():
  training = to_tf_example(['fare', features.TIPS, 'payment_type'], ['10', '3', 'Cash'], drop=())
  assert features.TIPS in tf.train.Example.FromString(training).features.feature
  served = tf.train.Example.FromString(serving_example(training))
  assert set(served.features.feature) == {'fare', 'payment_type'}
  assert served.features.feature['fare'].float_list.value == [10.0]
