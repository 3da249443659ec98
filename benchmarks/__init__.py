"""Benchmark harness: taxi-like data of any size, and timed runs of this pipeline against the TFX taxi template.

run.py is the command line (python -m benchmarks.run); generate.py writes the data (python -m benchmarks.generate).
The runner's pieces: runs.py (the data of a size and each pipeline run), template.py (copying and setting up the TFX
taxi template), measure.py (a child process's wall time and peak memory, its components' times from ML Metadata),
holdout.py (the held-back sample rows as labelled serving requests), serving.py (a pushed model's AUC, latency and
throughput), results.py (what is recorded of a run, and the sizes) and tables.py (the result tables and Markdown).
"""
