"""Every feature of the taxi data, declared once.

Each declaration says what a raw column is, how Transform turns it into model inputs and whether evaluation
slices by it. The preprocessing_fn, the model's inputs, the serving signature, the evaluation slices and the
schema checks all derive from the lists below; nothing else names a feature.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Iterator, Tuple

LABEL_KEY = 'big_tipper'  # 1 when TIPS > TIP_FRACTION * FARE.
TIPS = 'tips'
FARE = 'fare'
TIP_FRACTION = 0.2


class Kind(enum.Enum):
  """What role a raw column plays."""
  NUMERIC = 'numeric'  # z-scored (optionally of log1p), optionally also bucketized by quantiles.
  CATEGORICAL = 'categorical'  # vocabulary ids with out-of-vocabulary buckets, or the value itself (id_range).
  LABEL_SOURCE = 'label_source'  # used to compute the label; absent at serving time.
  UNUSED = 'unused'  # kept in the schema and validated, not a model input.


class RawType(enum.Enum):
  """The type of a raw column in CSV files and tf.Examples."""
  INT = 'INT'
  FLOAT = 'FLOAT'
  STRING = 'BYTES'


class Output(enum.Enum):
  """The kind of a transformed feature, as the model sees it."""
  DENSE = 'dense'  # a float32 value per example.
  IDS = 'ids'  # an int64 id in [0, cardinality) per example.


@dataclasses.dataclass(frozen=True)
class Feature:
  """A raw column and how it is transformed."""
  name: str
  raw_type: RawType
  kind: Kind
  log: bool = False  # NUMERIC: z-score log1p(max(x, 0)) instead of x.
  buckets: int = 0  # NUMERIC: also emit quantile bucket ids (0 = no buckets).
  top_k: int = 1000  # CATEGORICAL: keep at most this many most frequent values.
  oov_buckets: int = 2  # CATEGORICAL: hash buckets for values outside the vocabulary.
  id_range: Tuple[int, ...] = ()  # CATEGORICAL INT: (low, high) of the schema's int_domain; ids are value - low.
  slice: bool = False  # Evaluation also reports metrics per value of this raw column.


@dataclasses.dataclass(frozen=True)
class Cross:
  """A hashed cross of the categorical ids of two or more transformed features."""
  name: str
  keys: Tuple[str, ...]  # transformed feature keys (see transformed_features()).
  hash_buckets: int


@dataclasses.dataclass(frozen=True)
class TransformedFeature:
  """One model input produced by Transform."""
  key: str
  output: Output
  vocabulary: str = ''  # IDS from a vocabulary: its name; cardinality = vocabulary size + oov_buckets.
  cardinality: int = 0  # IDS with a fixed cardinality (buckets, crosses).
  oov_buckets: int = 0


FEATURES: Tuple[Feature, ...] = (
    Feature(FARE, RawType.FLOAT, Kind.NUMERIC, log=True, buckets=40),
    Feature('trip_miles', RawType.FLOAT, Kind.NUMERIC, log=True, buckets=20),
    Feature('trip_seconds', RawType.INT, Kind.NUMERIC, log=True, buckets=20),
    Feature('pickup_latitude', RawType.FLOAT, Kind.NUMERIC, buckets=10),
    Feature('pickup_longitude', RawType.FLOAT, Kind.NUMERIC, buckets=10),
    Feature('dropoff_latitude', RawType.FLOAT, Kind.NUMERIC, buckets=10),
    Feature('dropoff_longitude', RawType.FLOAT, Kind.NUMERIC, buckets=10),
    Feature('trip_start_hour', RawType.INT, Kind.CATEGORICAL, id_range=(0, 23), slice=True),
    Feature('trip_start_day', RawType.INT, Kind.CATEGORICAL, id_range=(1, 7)),
    Feature('trip_start_month', RawType.INT, Kind.CATEGORICAL, id_range=(1, 12)),
    Feature('pickup_community_area', RawType.INT, Kind.CATEGORICAL, id_range=(1, 77)),
    Feature('dropoff_community_area', RawType.INT, Kind.CATEGORICAL, id_range=(1, 77)),
    Feature('payment_type', RawType.STRING, Kind.CATEGORICAL, slice=True),
    Feature('company', RawType.STRING, Kind.CATEGORICAL, top_k=100, oov_buckets=5, slice=True),
    Feature('trip_start_timestamp', RawType.INT, Kind.UNUSED),
    Feature('pickup_census_tract', RawType.INT, Kind.UNUSED),
    Feature('dropoff_census_tract', RawType.INT, Kind.UNUSED),
    Feature(TIPS, RawType.FLOAT, Kind.LABEL_SOURCE),
)

CROSSES: Tuple[Cross, ...] = (
    Cross('payment_x_fare', ('payment_type_id', 'fare_bucket'), hash_buckets=400),
    Cross('pickup_x_dropoff_area', ('pickup_community_area_id', 'dropoff_community_area_id'), hash_buckets=2000),
    Cross('hour_x_weekday', ('trip_start_hour_id', 'trip_start_day_id'), hash_buckets=200),
    Cross('pickup_x_dropoff_cell',
          ('pickup_latitude_bucket', 'pickup_longitude_bucket', 'dropoff_latitude_bucket',
           'dropoff_longitude_bucket'), hash_buckets=3000),
)


def by_kind(kind: Kind) -> Tuple[Feature, ...]:
  """The declared features of one kind, in declaration order."""
  return tuple(f for f in FEATURES if f.kind == kind)


def feature(name: str) -> Feature:
  """The declaration of one raw column."""
  for f in FEATURES:
    if f.name == name:
      return f
  raise KeyError(f'no feature named {name!r} is declared in preprocessing/features.py')


def slice_columns() -> Tuple[str, ...]:
  """Raw columns that evaluation slices by."""
  return tuple(f.name for f in FEATURES if f.slice)


def serving_columns() -> Tuple[str, ...]:
  """Raw columns a serving request may carry (everything but the label sources)."""
  return tuple(f.name for f in FEATURES if f.kind != Kind.LABEL_SOURCE)


def label_columns() -> Tuple[str, ...]:
  """Raw columns the label is computed from: preprocessing.transform.big_tipper's arguments, in order."""
  return (TIPS, FARE)


def vocabulary_name(name: str) -> str:
  """The tf.Transform vocabulary file name of a categorical feature."""
  return f'{name}_vocab'


def transformed_features() -> Iterator[TransformedFeature]:
  """Every model input that Transform produces, derived from FEATURES and CROSSES."""
  for f in FEATURES:
    if f.kind == Kind.NUMERIC:
      yield TransformedFeature(f'{f.name}_z', Output.DENSE)
      if f.buckets:
        yield TransformedFeature(f'{f.name}_bucket', Output.IDS, cardinality=f.buckets)
    elif f.kind == Kind.CATEGORICAL and f.id_range:
      low, high = f.id_range
      yield TransformedFeature(f'{f.name}_id', Output.IDS, cardinality=high - low + 2)
    elif f.kind == Kind.CATEGORICAL:
      yield TransformedFeature(f'{f.name}_id', Output.IDS, vocabulary=vocabulary_name(f.name),
                               oov_buckets=f.oov_buckets)
  for cross in CROSSES:
    yield TransformedFeature(cross.name, Output.IDS, cardinality=cross.hash_buckets)
