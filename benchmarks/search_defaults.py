"""The search behind the declared defaults of models/model.py, rerunnable: `python -m benchmarks.search_defaults`.

It runs the pipeline with the Tuner (`local_runner.py --tune`) on the shipped sample minus the held-back rows
(benchmarks/holdout.py), prints every trial by validation AUC, and scores the pushed model, which trained with the
winner, on the held-back rows that neither the search nor the Trainer saw. With --defaults-too it first runs the
pipeline with the declared defaults in another output root and scores that model the same way.

Trial 0 of a search is the declared defaults and the others are drawn from HParams.seed, so the same commit, trials
and data give the same trials.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from benchmarks import generate
from benchmarks.holdout import big_tipper, split_holdout
from benchmarks.measure import venv_env
from benchmarks.serving import load_signature, newest_version, scores_of
from preprocessing.examples import to_tf_example

REPO_ROOT = Path(__file__).resolve().parent.parent
TRIALS = 40


def run_pipeline(data_dir: Path, output_root: Path, flags: Sequence[str]) -> None:
  """local_runner.py over data_dir into output_root; raises with its output when it fails."""
  command = [sys.executable, 'local_runner.py', '--data-root', str(data_dir), '--output-root', str(output_root),
             *flags]
  process = subprocess.run(command, cwd=REPO_ROOT, env=venv_env(), capture_output=True, text=True, check=False)
  if process.returncode:
    raise RuntimeError(f'{" ".join(command)} exited {process.returncode}:\n{process.stdout}{process.stderr}')


def trials(output_root: Path) -> List[Dict[str, object]]:
  """The Tuner's trials (TFX's tuner_results.json) of the newest tuning under output_root, best first."""
  results = sorted(output_root.glob('pipeline/Tuner/tuner_results/*/tuner_results.json'),
                   key=lambda p: int(p.parent.name))
  if not results:
    raise FileNotFoundError(f'no Tuner results under {output_root}')
  return sorted(json.loads(results[-1].read_text()), key=lambda t: -t['score'])


def holdout_auc(output_root: Path, header: List[str], held: List[List[str]]) -> float:
  """The AUC of the newest pushed model under output_root on the held-back rows."""
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  model_dir = newest_version(output_root / 'serving_model')
  if model_dir is None:
    raise FileNotFoundError(f'nothing was pushed under {output_root}')
  serve, output = load_signature(model_dir)
  scores = scores_of(serve, output, [to_tf_example(header, row) for row in held])
  return float(roc_auc_score([big_tipper(header, row) for row in held], scores))


def trial_line(trial: Dict[str, object]) -> str:
  """One trial: its validation AUC and searched values."""
  values = '  '.join(f'{k}={v}' for k, v in trial.items() if k not in ('trial_id', 'score', 'metrics'))
  return f'  trial {trial["trial_id"]}: validation AUC {trial["score"]:.4f}  {values}'


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--work-dir', type=Path, default=Path('/tmp/search_defaults'),
                      help='where the data and output roots go (emptied first)')
  parser.add_argument('--trials', type=int, default=TRIALS)
  parser.add_argument('--parallel', type=int, default=1, help='trials at once (the same trials, sooner)')
  parser.add_argument('--defaults-too', action='store_true',
                      help='also run and score the declared defaults, for the before/after figures')
  return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  shutil.rmtree(args.work_dir, ignore_errors=True)
  header, rows = generate.read_csv(generate.sample_path())
  kept, held = split_holdout(rows)
  data_dir = generate.write_table(args.work_dir / 'data' / 'data.csv', header, kept).parent
  print(f'{len(kept)} rows to search and train on, {len(held)} held back', flush=True)
  if args.defaults_too:
    run_pipeline(data_dir, args.work_dir / 'defaults', [])
    print(f'declared defaults: held-back AUC {holdout_auc(args.work_dir / "defaults", header, held):.4f}',
          flush=True)
  searched = args.work_dir / 'search'
  run_pipeline(data_dir, searched, ['--tune', '--trials', str(args.trials), '--tuner-seconds', '0',
                                       '--tuner-parallel', str(args.parallel)])
  print(f'{args.trials} trials, best first:')
  print('\n'.join(trial_line(t) for t in trials(searched)))
  print(f'the winner: held-back AUC {holdout_auc(searched, header, held):.4f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
