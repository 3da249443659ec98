# make run   - create .venv from requirements.lock if missing or stale, then run the pipeline on the taxi sample
# make test  - same set-up, then the whole test suite
# make benchmark - time the pipeline against the TFX taxi template (ARGS='--sizes 1,10 --write-results')
# make image / make push-image - build / push the pipeline container image (./Dockerfile) as $(IMAGE)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-from-lock
PROJECT := $(VENV)/.installed-project
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test venv schema-diff benchmark lock clean image push-image

run: venv
	$(PY) local_runner.py $(ARGS)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

venv: $(STAMP) $(PROJECT)

# Recreated from scratch when the lock changes, so no package survives that the lock no longer names.
$(STAMP): requirements.lock
	@set -e; python310=$$(scripts/find_python310.sh); \
	  echo "Creating $(VENV) with $$python310 from requirements.lock (one-off, a few minutes)"; \
	  rm -rf $(VENV); "$$python310" -m venv $(VENV); \
	  $(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock; \
	  $(PY) -m pip check --disable-pip-version-check
	@touch $(STAMP)

# The project itself, editable: its packages resolve to this checkout from any folder (the notebooks' kernels run in
# notebooks/ and import it with no sys.path edit). Reinstalled when setup.py changes, without recreating the venv.
$(PROJECT): $(STAMP) setup.py
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --editable .
	@touch $(PROJECT)

# Infers a schema from data with TFDV's SchemaGen logic and prints its difference from the curated one.
schema-diff: venv
	$(PY) -m schema.diff $(ARGS)

# Cold, cached and serving timings of this pipeline and of the TFX taxi template on the same data (benchmarks/).
benchmark: venv
	$(PY) -m benchmarks.run $(ARGS)

# Re-resolves requirements.in into requirements.lock in a throwaway venv (slow: the resolver backtracks).
lock:
	@set -e; python310=$$(scripts/find_python310.sh); tmp=$$(mktemp -d); \
	  "$$python310" -m venv $$tmp; $$tmp/bin/pip install --quiet -r requirements.in; \
	  { sed -n '1,3p' requirements.lock; $$tmp/bin/pip freeze --all --disable-pip-version-check | grep -v '^pip=='; } > requirements.lock.new; \
	  mv requirements.lock.new requirements.lock; rm -rf $$tmp

# The image every component of the Kubeflow / Vertex pipeline runs in: IMAGE=... or PIPELINE_IMAGE, else
# gcr.io/$GOOGLE_CLOUD_PROJECT/taxi-big-tipper. Pass the same image to kubeflow_runner.py (--image / PIPELINE_IMAGE).
IMAGE ?= $(or $(PIPELINE_IMAGE),$(if $(GOOGLE_CLOUD_PROJECT),gcr.io/$(GOOGLE_CLOUD_PROJECT)/taxi-big-tipper))

image:
	@test -n "$(IMAGE)" || { echo "Set IMAGE (or PIPELINE_IMAGE, or GOOGLE_CLOUD_PROJECT) to name the image." >&2; exit 2; }
	docker build -t $(IMAGE) .

push-image: image
	docker push $(IMAGE)

clean:
	rm -rf outputs
