"""The gates as a concept: one list, one error base, and everything that reacts to a gate asks them."""
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from pipeline import config as config_lib
from pipeline import metadata
from pipeline.dag import create_pipeline
from pipeline.gates import GateError, all_gates
from pipeline.gates.base import Anomaly, format_table
from pipeline.gates.window import passed_gates
from pipeline.local import exit_codes
from pipeline.reporting import html_report, run_summary


def test_gate_table_lines_up_columns():
  table = format_table([Anomaly('train', 'company', 'Column dropped', 'The feature was not present.'),
                        Anomaly('eval', 'trip_start_hour', 'Out-of-range values', 'Unexpectedly large value: 99.')])
  lines = table.splitlines()
  assert lines[0].split() == ['split', 'feature', 'anomaly', 'description']
  descriptions = ['description', 'The feature was not present.', 'Unexpectedly large value: 99.']
  assert len({line.index(d) for line, d in zip(lines, descriptions)}) == 1
  assert 'trip_start_hour' in lines[2] and 'Unexpectedly large value: 99.' in lines[2]


def test_every_listed_gate_is_a_node_that_takes_what_it_checks_and_precedes_the_trainer(tmp_path):
  config = config_lib.local_config(data_root=str(tmp_path), output_root=str(tmp_path / 'out'), train_steps=1,
                                   enable_cache=True, beam_workers=1, inference_data_root=str(tmp_path / 'to_score'))
  nodes = {node.id: node for node in create_pipeline(config).components}
  gates = all_gates()
  assert [gate.node_id for gate in gates] == ['DataGate', 'InferenceDataGate', 'DriftGate']
  for gate in gates:
    assert issubclass(gate.error, GateError) and gate.error.gate_name != GateError.gate_name
    channel = nodes[gate.node_id].inputs[gate.checks_key]
    assert channel.type_name == gate.checks_type
    assert nodes[gate.node_id] in nodes['Trainer'].upstream_nodes
  assert [gate.required for gate in gates] == [True, False, False]  # with --inference-data; in local runs.


@pytest.mark.parametrize('gate', all_gates(), ids=lambda gate: gate.node_id)
def test_a_gate_error_stops_with_exit_code_2_and_names_its_gate(gate):
  failure = gate.error('what was wrong')
  stopped = f'STOPPED BY THE {gate.error.gate_name.upper()}'
  assert exit_codes.exit_code(failure) == exit_codes.BAD_INPUT
  assert f'{stopped}: what was wrong' in run_summary.format_summary(run_summary.RunSummary(), failure, 1.0)
  assert html_report.run_status(run_summary.RunSummary(), failure) == stopped
  assert exit_codes.exit_code(RuntimeError('boom')) == exit_codes.FAILED


def test_the_window_asks_the_gates_of_a_real_run(served_root):
  store = metadata.open_uri(str(served_root / config_lib.METADATA_FILE))
  [examples] = store.get_artifacts_by_type('Examples')
  assert passed_gates(store, examples.id)


def test_the_exit_codes_and_the_gate_base_load_without_tensorflow():
  code = ('import sys\nimport pipeline.local.exit_codes, pipeline.gates\n'
          "print(sorted(m for m in ('tensorflow', 'tfx', 'pipeline.gates.data') if m in sys.modules))")
  out = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
  assert out.stdout.strip() == '[]'
