"""Lineage questions answered from ML Metadata, for the command line (python -m pipeline.lineage), the HTML
report and the notebooks: what made a model and what came of it (queries.py), what changed between two runs
(diff.py), a picture of a run (picture.py), and their text (text.py, cli.py)."""
