"""Times this pipeline against the TFX taxi template on the same data, and prints (or writes) the result table.

For each size (a multiple of the shipped sample's 15,002 rows; 1 is the sample itself, less the rows held back
for the AUC): a cold run of local_runner.py and of the template copied from the installed tfx package, each as a
child process, measuring wall time, the peak resident memory of the whole process tree and, from each run's ML
Metadata, every component's time. Then three reruns of ours with nothing changed (the first reruns the drift gate
against the model just pushed, the second is fully cached through TFX, the third repeats it without loading TFX:
pipeline/local/replay.py), the serving latency and throughput of each
pushed model, and its AUC on sample rows that no run saw (the fifth of the sample that tests/test_quality.py holds
back too; the data of every size is made from the other four fifths).

Sizes named in --ours-only (1000: 15 M rows, where the template would take hours) run ours alone, each in a table of
its own beside the template's time extrapolated from its two largest sizes, marked as an estimate.

  python -m benchmarks.run [--sizes 1,10,100,1000] [--ours-only 1000] [--skip-template] [--work-dir DIR]
                           [--write-results]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from models import keras_choice  # noqa: E402

keras_choice.use_tf_keras()

from benchmarks import generate  # noqa: E402
from benchmarks.holdout import big_tipper, split_holdout  # noqa: E402
from benchmarks.results import (OURS, TEMPLATE, RunResult, cached_size, describe, parse_sizes,  # noqa: E402
                                size_label)
from benchmarks.runs import cold_runs, ours_root, prepare_data, run_ours  # noqa: E402
from benchmarks.serving import measure_pushed_models, score_pushed_model  # noqa: E402
from benchmarks.tables import (cold_run_table, ours_only_table, render, rerun_table, run_notes,  # noqa: E402
                               serving_table)
from preprocessing.examples import to_tf_example  # noqa: E402

RERUNS = 3  # reruns with nothing changed, one after the other
RESULTS_FILE = Path(__file__).resolve().parent / 'RESULTS.md'
DEFAULT_BEAM_WORKERS = 1


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
  """Command-line flags."""
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--sizes', type=parse_sizes, default=[1.0, 10.0, 100.0],
                      help='multiples of the shipped sample, comma-separated (default: 1,10,100)')
  parser.add_argument('--skip-template', action='store_true', help='time only this pipeline')
  parser.add_argument('--ours-only', type=parse_sizes, default=[],
                      help='sizes (among --sizes) at which only this pipeline runs, each in its own table')
  parser.add_argument('--work-dir', type=Path, default=None,
                      help='where data, outputs and logs go (default: a new temporary directory, kept)')
  parser.add_argument('--beam-workers', type=int, default=DEFAULT_BEAM_WORKERS,
                      help='--beam-workers of our runs (default: %(default)s)')
  parser.add_argument('--seed', type=int, default=0, help='seed of the generated data (default: %(default)s)')
  parser.add_argument('--write-results', action='store_true', help=f'also write the tables to {RESULTS_FILE}')
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Runs everything, prints the tables; 0 when every run exited 0."""
  args = parse_args(argv)
  work_dir = (args.work_dir or Path(tempfile.mkdtemp(prefix='taxi-benchmark-'))).resolve()
  work_dir.mkdir(parents=True, exist_ok=True)
  print(f'work dir: {work_dir}', flush=True)
  load_at_start = os.getloadavg()[0]
  header, sample = generate.read_csv(generate.sample_path())
  kept, held = split_holdout(sample)
  examples = [to_tf_example(header, row) for row in held]
  labels = [big_tipper(header, row) for row in held]
  results: List[RunResult] = []
  reruns: List[RunResult] = []
  for size in args.sizes:
    data_dir, rows = prepare_data(size, work_dir, header, kept, args.seed)
    print(f'{size_label(size)}: {rows:,} rows in {data_dir}', flush=True)
    ours_only = args.skip_template or size in args.ours_only
    scored = []
    for result, serving_dir in cold_runs(size, rows, data_dir, work_dir, args.beam_workers, ours_only):
      scored.append((result, score_pushed_model(result, serving_dir, examples, labels)))
      results.append(result)
      print(describe(result), flush=True)
    measure_pushed_models(scored)
    if size == cached_size(args.sizes):
      for number in range(1, RERUNS + 1):
        reruns.append(run_ours(size, rows, data_dir, ours_root(work_dir, size), args.beam_workers, f'rerun{number}'))
        print(f'rerun {number} {size_label(size)}: {reruns[-1].measured.seconds:.1f} s', flush=True)
  compared = [size for size in args.sizes if size not in args.ours_only]
  templates = [r for r in results if r.pipeline == TEMPLATE]
  tables = [('Cold runs (a fresh output root): seconds per component from ML Metadata',
             cold_run_table(results, compared))]
  tables += [(f'{size_label(r.size)} ({r.rows:,} rows), ours only: the template\'s seconds are an estimate',
              ours_only_table(r, templates)) for r in results if r.pipeline == OURS and r.size in args.ours_only]
  tables += [('Reruns with nothing changed, one after the other', rerun_table(reruns)),
            ('Serving: the pushed model\'s serving_default signature, raw tf.Examples, CPU', serving_table(results))]
  command = 'python -m benchmarks.run ' + ' '.join(argv if argv is not None else sys.argv[1:])
  notes = run_notes(len(kept), len(held), args.seed, args.beam_workers, load_at_start)
  notes += [f'{r.pipeline} {size_label(r.size)}: {r.note}' for r in results if r.note]
  text = render(tables, command.strip(), notes)
  print('\n' + text)
  if args.write_results:
    RESULTS_FILE.write_text(text)
    print(f'wrote {RESULTS_FILE}')
  return 0 if all(r.measured.returncode == 0 for r in results + reruns) else 1


if __name__ == '__main__':
  raise SystemExit(main())
