"""The curated schema (schema.pbtxt) and the tool that compares it with a schema inferred from data."""
