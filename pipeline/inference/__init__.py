"""Batch inference in the DAG: the inference data's gate, the choice of the model that scores it, and the
predictions file joined back to the input rows (BulkInferrer, TFX's own component, scores between them)."""

SCORED_BY_THIS_RUN = 'this run\'s model, blessed by its Evaluator'


def predictions_line(csv_path: str, rows: int, scored_by: str) -> str:
  """The summary's line of a run's predictions: where, how many rows, which model scored them (no rows: BulkInferrer
  skipped a model that was not blessed). No TensorFlow: run-local's summary imports it too."""
  if not rows:
    return 'Predictions: none written: this run\'s model was not blessed, so BulkInferrer scored nothing'
  return f'Predictions: {csv_path} ({rows} rows; Parquet beside it), scored by {scored_by}'
