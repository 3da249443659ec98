"""Warm starts: saved weights follow their vocabulary tokens; what cannot be matched starts afresh."""
import numpy as np

from models import warm_start


def rows(*values):
  return np.array([[v, v] for v in values], dtype=np.float32)


def test_embedding_rows_follow_their_token_and_oov_rows_are_kept():
  saved = rows(1, 2, 3, 9)  # tokens a, b, c, then one OOV bucket.
  fresh = rows(0, 0, 0, 0, 0)  # tokens c, a, d, then one OOV bucket (and a spare row stays fresh).
  aligned, matched = warm_start.align_rows(saved, fresh, [b'a', b'b', b'c'], [b'c', b'a', b'd'])
  assert matched == 2
  np.testing.assert_array_equal(aligned[:, 0], [3, 1, 0, 9, 0])


def test_crosses_of_a_changed_vocabulary_and_changed_shapes_start_fresh():
  fresh = {'payment_type_id_embedding/embeddings:0': rows(0, 0, 0),
           'payment_x_fare_embedding/embeddings:0': rows(0, 0),
           'hour_x_weekday_embedding/embeddings:0': rows(0, 0),
           'deep_0/kernel:0': np.zeros((4, 3)), 'deep_0/bias:0': np.zeros(3)}
  saved = {'payment_type_id_embedding/embeddings:0': rows(5, 6, 7),
           'payment_x_fare_embedding/embeddings:0': rows(1, 1),
           'hour_x_weekday_embedding/embeddings:0': rows(2, 3),
           'deep_0/kernel:0': np.ones((5, 3)), 'deep_0/bias:0': np.ones(3)}
  vocabularies = {'payment_type_id': [b'Credit Card', b'Cash'], 'trip_start_hour_id': [b'1'],
                  'trip_start_day_id': [b'2']}
  saved_vocabularies = {'payment_type_id': [b'Cash', b'Credit Card'], 'trip_start_hour_id': [b'1'],
                        'trip_start_day_id': [b'2']}
  values, copied, fresh_names = warm_start.warm_values(fresh, saved, saved_vocabularies, vocabularies)
  assert sorted(fresh_names) == ['deep_0/kernel:0', 'payment_x_fare_embedding/embeddings:0']
  assert 'payment_type_id_embedding/embeddings:0 (2 of 2 tokens)' in copied
  np.testing.assert_array_equal(values['payment_type_id_embedding/embeddings:0'][:, 0], [6, 5, 7])
  np.testing.assert_array_equal(values['hour_x_weekday_embedding/embeddings:0'][:, 0], [2, 3])
  np.testing.assert_array_equal(values['deep_0/bias:0'], np.ones(3))


def test_saved_entries_round_trip_weights_and_vocabularies():
  entries = warm_start.saved_entries({'deep_0/bias:0': np.ones(2)}, {'company_id': [b'Flash Cab', b'Sun Taxi']})
  weights, vocabularies = warm_start.split_entries(entries)
  assert list(weights) == ['deep_0/bias:0'] and vocabularies == {'company_id': [b'Flash Cab', b'Sun Taxi']}
