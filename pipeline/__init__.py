"""Pipeline configuration, DAG definition and run reporting; nothing here knows where the pipeline runs."""
import models  # noqa: F401  (fixes the Keras choice before TensorFlow is imported anywhere)
