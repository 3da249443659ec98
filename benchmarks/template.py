"""The TFX taxi template as the benchmark runs it: copied from the installed tfx package with its own CLI, every
component enabled in its pipeline.py, its local_runner.py pointed at the benchmark's data and output directories."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.measure import venv_env

TEMPLATE_NAME = 'taxi-template'


def uncomment_appends(source: str) -> str:
  """Enables every `# components.append(x)` line of the template's pipeline.py."""
  return re.sub(r'^(\s*)# (components\.append\(\w+\))$', r'\1\2', source, flags=re.MULTILINE)


def validator_for_every_schema(source: str) -> str:
  """Moves the template's ExampleValidator out of its ImportSchemaGen-only branch, so it runs after SchemaGen too."""
  block = re.search(r'^    # Performs anomaly detection.*?^    components\.append\(example_validator\)\n',
                    source, flags=re.MULTILINE | re.DOTALL)
  if block is None:
    raise RuntimeError('the template\'s ExampleValidator block was not found: has the template changed?')
  dedented = re.sub(r'^  ', '', block.group(0), flags=re.MULTILINE)
  return source[:block.start()] + dedented + source[block.end():]


def point_runner_at(source: str, data_dir: Path, output_dir: Path) -> str:
  """The template's local_runner.py reading data_dir and writing under output_dir (both absolute)."""
  patched, outputs = re.subn(r"^OUTPUT_DIR = '\.'$", f'OUTPUT_DIR = {str(output_dir)!r}', source, flags=re.MULTILINE)
  patched, data = re.subn(r'^DATA_PATH = .*$', f'DATA_PATH = {str(data_dir)!r}', patched, flags=re.MULTILINE)
  if (outputs, data) != (1, 1):
    raise RuntimeError('OUTPUT_DIR or DATA_PATH not found in the template\'s local_runner.py')
  return patched


def enable_every_step(pipeline_source: str) -> str:
  """The template's pipeline.py with every component in the pipeline."""
  patched = validator_for_every_schema(uncomment_appends(pipeline_source))
  missing = [c for c in ('statistics_gen', 'schema_gen', 'example_validator', 'transform', 'trainer',
                         'model_resolver', 'evaluator', 'pusher')
             if not re.search(rf'^\s*components\.append\({c}\)$', patched, flags=re.MULTILINE)]
  if missing:
    raise RuntimeError(f'could not enable {", ".join(missing)} in the template\'s pipeline.py')
  return patched


def copy_template(destination: Path) -> Path:
  """`tfx template copy --model=taxi` into destination, with the venv's tfx CLI."""
  tfx_cli = Path(sys.executable).parent / 'tfx'
  subprocess.run([str(tfx_cli), 'template', 'copy', '--model=taxi', f'--pipeline_name={TEMPLATE_NAME}',
                  f'--destination_path={destination}'], check=True, capture_output=True, text=True,
                 env=venv_env(), cwd=destination.parent)
  return destination


def set_up_template(template_dir: Path, data_dir: Path, output_dir: Path) -> None:
  """Enables every step of a copied template and points it at data_dir and output_dir."""
  pipeline_py = template_dir / 'pipeline' / 'pipeline.py'
  runner_py = template_dir / 'local_runner.py'
  pipeline_py.write_text(enable_every_step(pipeline_py.read_text()))
  runner_py.write_text(point_runner_at(runner_py.read_text(), data_dir, output_dir))


def template_metadata(output_dir: Path) -> Path:
  """Where the template's local_runner.py keeps its ML Metadata under its OUTPUT_DIR."""
  return output_dir / 'tfx_metadata' / TEMPLATE_NAME / 'metadata.db'


def template_serving_dir(output_dir: Path) -> Path:
  """Where the template's Pusher puts models under its OUTPUT_DIR."""
  return output_dir / 'tfx_pipeline_output' / TEMPLATE_NAME / 'serving_model'
