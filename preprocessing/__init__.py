"""Feature declarations and the tf.Transform preprocessing_fn."""
