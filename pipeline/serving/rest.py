"""The body of a TF Serving REST :predict request for CSV rows, and its decoding.

    python -m pipeline.serving.rest --input trips.csv [--rows 1]

prints the JSON body for the first rows of a CSV file: the serving signature's `examples` input, each a serialized
raw tf.Example (preprocessing/examples.py) sent as {"b64": ...}, which TF Serving decodes back into bytes.
"""
from __future__ import annotations

import argparse
import base64
import csv
import itertools
import json
import sys
from typing import Any, Dict, List, Optional, Sequence

from models.contract import SERVING_INPUT, SERVING_SIGNATURE

Json = Dict[str, Any]


def rest_request_body(serialized_examples: Sequence[bytes]) -> Json:
  """The :predict body (row format) whose instances are these serialized tf.Examples."""
  return {'signature_name': SERVING_SIGNATURE,
          'instances': [{SERVING_INPUT: {'b64': base64.b64encode(example).decode('ascii')}}
                        for example in serialized_examples]}


def request_examples(body: Json) -> List[bytes]:
  """The serialized tf.Examples of a :predict body, decoded as TF Serving decodes {"b64": ...} values."""
  if body.get('signature_name', SERVING_SIGNATURE) != SERVING_SIGNATURE:
    raise ValueError(f'the body names signature {body["signature_name"]!r}, not {SERVING_SIGNATURE!r}')
  return [base64.b64decode(instance[SERVING_INPUT]['b64'], validate=True) for instance in body['instances']]


def csv_body(path: str, rows: int) -> Json:
  """The :predict body for the first rows of a CSV file with a header."""
  from preprocessing.examples import to_tf_example  # pylint: disable=g-import-not-at-top  (TensorFlow)
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    header = next(reader)
    return rest_request_body([to_tf_example(header, row) for row in itertools.islice(reader, rows)])


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Prints the body for the first --rows rows of --input."""
  parser = argparse.ArgumentParser(prog='python -m pipeline.serving.rest', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--input', required=True, help='CSV file with a header and the taxi columns')
  parser.add_argument('--rows', type=int, default=1, help='rows to put in the request (default: %(default)s)')
  args = parser.parse_args(argv)
  print(json.dumps(csv_body(args.input, args.rows)))
  return 0


if __name__ == '__main__':
  sys.exit(main())
