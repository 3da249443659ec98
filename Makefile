# make run   - create .venv from requirements.lock if missing or stale, then run the pipeline on the taxi sample
# make test  - same set-up, then the whole test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-from-lock
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test venv schema-diff lock clean

run: venv
	$(PY) local_runner.py $(ARGS)

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

venv: $(STAMP)

# Recreated from scratch when the lock changes, so no package survives that the lock no longer names.
$(STAMP): requirements.lock
	@set -e; python310=$$(scripts/find_python310.sh); \
	  echo "Creating $(VENV) with $$python310 from requirements.lock (one-off, a few minutes)"; \
	  rm -rf $(VENV); "$$python310" -m venv $(VENV); \
	  $(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock; \
	  $(PY) -m pip check --disable-pip-version-check
	@touch $(STAMP)

# Infers a schema from data with TFDV's SchemaGen logic and prints its difference from the curated one.
schema-diff: venv
	$(PY) -m schema.diff $(ARGS)

# Re-resolves requirements.in into requirements.lock in a throwaway venv (slow: the resolver backtracks).
lock:
	@set -e; python310=$$(scripts/find_python310.sh); tmp=$$(mktemp -d); \
	  "$$python310" -m venv $$tmp; $$tmp/bin/pip install --quiet -r requirements.in; \
	  { sed -n '1,3p' requirements.lock; $$tmp/bin/pip freeze --all --disable-pip-version-check | grep -v '^pip=='; } > requirements.lock.new; \
	  mv requirements.lock.new requirements.lock; rm -rf $$tmp

clean:
	rm -rf outputs
