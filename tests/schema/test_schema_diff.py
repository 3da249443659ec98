"""The curated-versus-inferred schema comparison."""
from tensorflow_metadata.proto.v0 import schema_pb2
from google.protobuf import text_format

from schema.diff import schema_differences

CURATED = '''
feature { name: "hour" type: INT presence { min_fraction: 1.0 } int_domain { min: 0 max: 23 } }
feature { name: "payment" type: BYTES domain: "payment" }
feature { name: "gone" type: FLOAT }
string_domain { name: "payment" value: "Cash" value: "Card" }
'''
INFERRED = '''
feature { name: "hour" type: INT presence { min_fraction: 1.0 } }
feature { name: "payment" type: BYTES domain: "payment" }
feature { name: "new" type: BYTES }
string_domain { name: "payment" value: "Cash" value: "Card" value: "Bitcoin" }
'''


def test_differences_name_features_facts_and_unseen_values():
  lines = schema_differences(text_format.Parse(CURATED, schema_pb2.Schema()),
                             text_format.Parse(INFERRED, schema_pb2.Schema()))
  assert '+ new: in the data, not in the curated schema' in lines
  assert '- gone: in the curated schema, not in the data' in lines
  assert '~ hour.range: curated [0, 23], inferred (unset)' in lines
  assert '~ payment: values seen in the data outside the curated domain: Bitcoin' in lines
  assert len(lines) == 4


def test_identical_schemas_have_no_differences():
  schema = text_format.Parse(CURATED, schema_pb2.Schema())
  assert schema_differences(schema, schema) == []
