"""What a run did, for people: the summary printed at its end (run_summary.py), the HTML report (html_report.py)
and the tables and charts that the report and the notebooks share (analysis.py). A new report section goes into
html_report.py, with its data in run_summary.py."""
