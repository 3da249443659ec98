"""Batch inference in the DAG: the inference data's gate, the choice of the model that scores it, and the
predictions file joined back to the input rows (BulkInferrer, TFX's own component, scores between them)."""
