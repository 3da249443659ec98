# The pipeline image: the official TFX 1.16 image with this project installed. Every component of the compiled
# pipeline runs in it, as do the Vertex AI training job (--accelerator, --trainer-replicas) and Dataflow workers
# (--beam-runner dataflow: the base image's entrypoint is the Beam SDK harness, so it is left as it is).
#   make image IMAGE=REGION-docker.pkg.dev/PROJECT/REPOSITORY/taxi-big-tipper:TAG
#   make push-image IMAGE=...
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# The project's Keras choice (models/keras_choice.py): tf.keras is Keras 2 (tf_keras) in every process.
ENV TF_USE_LEGACY_KERAS=1

# The compiled pipeline reads the curated schema from here (kubeflow_runner.CONTAINER_SCHEMA_FILE) and imports
# what its spec names (the run_fn, the preprocessing_fn, this project's components, executors and resolver
# strategies, the Evaluator's metric) from the installed package; the check below imports each of them. The base
# image already holds TFX 1.16 and its whole stack, so --no-deps leaves those versions as they are.
COPY . /pipeline
RUN python -m pip install --no-cache-dir --no-deps /pipeline \
 && cd /tmp \
 && python -c "import models.trainer, preprocessing.transform, pipeline.ingest.example_gen, \
pipeline.ingest.schema_import, pipeline.gates.data, pipeline.gates.drift, pipeline.gates.window, \
pipeline.evaluation.baseline, pipeline.evaluation.classifier_metrics, pipeline.serving.pusher, kubeflow_runner"
