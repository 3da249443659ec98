"""What a run did, for people: the summary printed at its end (run_summary.py), the HTML report (html_report.py),
the tables and charts that the report and the notebooks share (analysis.py), the curves and AUC intervals read from
the Evaluator's plots (curves.py) and the notebooks' one-call start (notebook.py). A new report section goes into
html_report.py, with its data in run_summary.py."""
