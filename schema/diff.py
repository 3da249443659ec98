"""Infers a schema from CSV data the way SchemaGen does and prints how it differs from the curated one.

    python -m schema.diff [--data-root DIR] [--write inferred.pbtxt]      (or: make schema-diff)
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Dict, List, Optional

from models import keras_choice

keras_choice.use_tf_keras()

import tensorflow_data_validation as tfdv  # noqa: E402  (after the Keras choice)
from tensorflow_metadata.proto.v0 import schema_pb2  # noqa: E402

from pipeline.config import SCHEMA_FILE, shipped_taxi_data  # noqa: E402


def bounds(domain) -> str:
  """'[min, max]' of an int or float domain, with unset ends as -inf / inf."""
  low = f'{domain.min:g}' if domain.HasField('min') else '-inf'
  high = f'{domain.max:g}' if domain.HasField('max') else 'inf'
  return f'[{low}, {high}]'


def describe(feature: schema_pb2.Feature, schema: schema_pb2.Schema) -> Dict[str, str]:
  """The facts of a feature that curation decides, as comparable strings."""
  facts = {'type': schema_pb2.FeatureType.Name(feature.type),
           'presence.min_fraction': f'{feature.presence.min_fraction:g}'}
  for kind in ('int_domain', 'float_domain'):
    if feature.HasField(kind):
      facts['range'] = bounds(getattr(feature, kind))
  domain = feature.domain or (feature.name if feature.HasField('string_domain') else '')
  values = next((d.value for d in schema.string_domain if d.name == domain), feature.string_domain.value)
  if values:
    facts['values'] = ','.join(sorted(values))
  return facts


def schema_differences(curated: schema_pb2.Schema, inferred: schema_pb2.Schema) -> List[str]:
  """Human-readable lines, one per difference; empty when the schemas agree on every curated fact."""
  curated_features = {f.name: f for f in curated.feature}
  inferred_features = {f.name: f for f in inferred.feature}
  lines = [f'+ {name}: in the data, not in the curated schema'
           for name in sorted(set(inferred_features) - set(curated_features))]
  lines += [f'- {name}: in the curated schema, not in the data'
            for name in sorted(set(curated_features) - set(inferred_features))]
  for name in sorted(set(curated_features) & set(inferred_features)):
    old, new = describe(curated_features[name], curated), describe(inferred_features[name], inferred)
    for fact in sorted(set(old) | set(new)):
      if fact == 'values' and fact in old and fact in new:
        added = sorted(set(new[fact].split(',')) - set(old[fact].split(',')))
        if added:
          lines.append(f'~ {name}: values seen in the data outside the curated domain: {", ".join(added)}')
      elif old.get(fact) != new.get(fact):
        lines.append(f'~ {name}.{fact}: curated {old.get(fact, "(unset)")}, inferred {new.get(fact, "(unset)")}')
  return lines


def infer_schema(data_root: str) -> schema_pb2.Schema:
  """The schema SchemaGen would infer from every CSV file in a directory."""
  files = sorted(glob.glob(os.path.join(data_root, '*.csv')))
  if not files:
    raise SystemExit(f'error: {data_root} holds no *.csv file')
  statistics = tfdv.generate_statistics_from_csv(os.path.join(data_root, '*.csv'))
  return tfdv.infer_schema(statistics, infer_feature_shape=False)


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--data-root', default=shipped_taxi_data(), help='directory of CSV files')
  parser.add_argument('--write', help='also write the inferred schema to this path')
  args = parser.parse_args(argv)
  inferred = infer_schema(args.data_root)
  if args.write:
    tfdv.write_schema_text(inferred, args.write)
  lines = schema_differences(tfdv.load_schema_text(str(SCHEMA_FILE)), inferred)
  print('\n'.join(lines) if lines else 'The inferred schema agrees with schema/schema.pbtxt on every curated fact.')
  return 0


if __name__ == '__main__':
  sys.exit(main())
