"""The pipeline's definition and everything around it, by room:

  config.py    the one configuration both runners build (PipelineConfig), and the local defaults
  dag.py       the TFX DAG, built from a PipelineConfig alone: it knows nothing about where it runs
  metadata.py  every ML Metadata access: stores, lineage walks, runs
  compat.py    the private internals of TFX, TFT and Beam the project relies on, version-checked
  ingest/      CSV in: spans, the input check, the native ExampleGen, the curated schema import
  gates/       what stops a run before training: the data gate, the drift gate, and the span window they guard
  evaluation/  how a model is judged: TFMA config, metrics and their names, the baseline model
  serving/     the Pusher's executor
  local/       running on this machine: the concurrent runner, its executor worker, run lock, exit codes
  reporting/   the run summary, the HTML report, tables and charts for it and the notebooks
  lineage/     python -m pipeline.lineage: questions about models, runs and their differences
"""
