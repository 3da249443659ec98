# The pipeline image: the official TFX 1.16 image with this project installed. Every component of the compiled
# pipeline runs in it, as do the Vertex AI training job (--accelerator, --trainer-replicas) and Dataflow workers
# (--beam-runner dataflow: the base image's entrypoint is the Beam SDK harness, so it is left as it is).
#   make image IMAGE=REGION-docker.pkg.dev/PROJECT/REPOSITORY/taxi-big-tipper:TAG
#   make push-image IMAGE=...
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# The project's Keras choice (models/__init__.py): tf.keras is Keras 2 (tf_keras) in every process.
ENV TF_USE_LEGACY_KERAS=1

# The compiled pipeline reads the curated schema from here (kubeflow_runner.CONTAINER_SCHEMA_FILE) and imports
# preprocessing.transform, models.trainer, pipeline.components and pipeline.classifier_metrics (the Evaluator's
# metric) from the installed package. The base image already holds TFX 1.16 and its whole stack, so --no-deps
# leaves those versions as they are.
COPY . /pipeline
RUN python -m pip install --no-cache-dir --no-deps /pipeline \
 && cd /tmp \
 && python -c "import models.trainer, preprocessing.transform, pipeline.components, pipeline.classifier_metrics, \
kubeflow_runner"
