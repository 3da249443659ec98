"""Getting the data in: span folders (spans.py), reading CSV as the declared columns (csv_reading.py), the input
check before any component runs (input_check.py), the native CsvExampleGen (example_gen.py) and the curated schema
as the pipeline's Schema, with the Evaluator's cut of it to the slice columns (schema_import.py)."""
