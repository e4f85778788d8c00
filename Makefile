# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKER_CONCURRENCY ?= 2
export CREDITRISK_DATA_DIR ?= $(abspath ../shared/data/pakdd2010)

.PHONY: run test lint typecheck install install-dev migrate train model eda check-data services clean bench-api bench-batch audit

# Two stamps: the runtime set (requirements.txt: make run, the image, the workers) and the dev set
# (requirements-dev.txt: that and the test, benchmark and notebook tools). `make test` after `make run`
# installs the dev set; the dev set includes the runtime set, so it renews both stamps.
# pip writes no bytecode (--no-compile): compileall does it afterwards on every core at once, not one
# file after another, and skips the packages' own test suites, which nothing imports: 20 s of a
# first start's install on 2 cores. The pip Python 3.11 puts in a new virtual environment installs
# these wheels; it is not upgraded first.
COMPILE = $(PY) -m compileall -q -j 0 -x '/tests?/' "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -r requirements.txt
	$(COMPILE)
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -r requirements-dev.txt
	$(COMPILE)
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

check-data:
	@test -e "$(CREDITRISK_DATA_DIR)" || [[ "$(CREDITRISK_DATA_DIR)" == s3://* ]] || { \
	  echo "The PAKDD 2010 data is not at $(CREDITRISK_DATA_DIR)."; \
	  echo "Set CREDITRISK_DATA_DIR to the folder (or s3://bucket/prefix) holding PAKDD2010_Modeling_Data.txt."; \
	  exit 1; }

# Trains only when no model version is active, so a second `make run` starts at once. The first start
# trains the default candidate alone (--quick); `make train` runs the whole comparison.
model: migrate check-data
	$(PY) manage.py train --if-none-active --quick

# The web server, a Celery worker and beat (scoring/management/commands/serve.py); it prints the URL and
# the demo user's password and API token once the first page answers. Ctrl-C or SIGTERM stops all three.
run: model
	$(PY) manage.py serve --host $(HOST) --port $(PORT) --concurrency $(WORKER_CONCURRENCY)

services:
	bash scripts/ensure-services

# `make test` fails on a lint finding, a file the formatter would change, an import across the layers
# (import-linter, pyproject.toml) or a type error, before pytest starts.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# mypy with the Django and DRF plugins; configuration in pyproject.toml.
typecheck: install-dev
	$(VENV)/bin/mypy .

test: install-dev services lint typecheck
	$(VENV)/bin/pytest

# Full training on the shared data; rewrites docs/model_card.md and its figures.
train: migrate check-data
	$(PY) manage.py train --activate --model-card docs/model_card.md

eda: install-dev check-data
	$(PY) notebooks/render.py --data-dir "$(CREDITRISK_DATA_DIR)" --output docs/eda.html

clean:
	rm -rf var .pytest_cache

# Benchmarks: commands, not tests. Figures go to docs/performance.md.
# CHALLENGER=1: the same load without, then with, a challenger scored in shadow (their p99 compared).
bench-api: install-dev services check-data
	$(PY) scripts/bench_api.py --requests $${REQUESTS:-2000} --concurrency $${CONCURRENCY:-8} $${CHALLENGER:+--challenger}

# The compiled scorer in-process on one core: one applicant scored and explained, rows/s on a frame.
.PHONY: bench-scorer
bench-scorer: install-dev services check-data
	$(PY) scripts/bench_scorer.py

# A million-row file through the bulk API with 2 worker processes, beside its in-process floor.
bench-batch: install-dev services check-data
	$(PY) scripts/bench_batch.py --rows $${ROWS:-1000000}

# Known vulnerabilities of the installed packages (pip-audit, PyPI's advisory data); fails on any.
# Packages PyPI could not be asked about are counted; AUDIT_FLAGS=--strict fails on those too.
audit: install-dev
	$(PY) scripts/audit_dependencies.py $(AUDIT_FLAGS)

# The lending simulation on the rows the active model held out; charts into docs/figures.
.PHONY: simulate
simulate: migrate
	$(PY) manage.py simulate --figures docs/figures

# Single scores at a steady rate, alone and while a 200,000-row bulk job runs; figures in docs/reliability.md.
.PHONY: bench-load
bench-load: install-dev services check-data
	$(PY) scripts/bench_load.py --rate $${RATE:-40} --rows $${ROWS:-200000} --baseline-seconds $${BASELINE:-60} --after-seconds $${AFTER:-60}

# Cross-validated ROC AUC against training rows (would more labelled data help?); docs/modelling.md.
.PHONY: learning-curve
learning-curve: install-dev check-data
	$(PY) scripts/learning_curve.py --data "$(CREDITRISK_DATA_DIR)/PAKDD2010_Modeling_Data.txt" --candidate $${CANDIDATE:-soft_voting} --figure docs/figures/learning-curve.png

# Schemathesis over every operation, random-seeded and stateful, for about FUZZ_SECONDS in all (default 300:
# a pass per operation, then stateful rounds until the time is up). It prints its seed: `make fuzz FUZZ_SEED=<seed>` replays a run.
.PHONY: fuzz
fuzz: install-dev services
	@seed=$${FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; seconds=$${FUZZ_SECONDS:-300}; \
	echo "fuzz: seed $$seed for $$seconds s (replay: make fuzz FUZZ_SEED=$$seed)"; \
	CREDITRISK_FUZZ_SECONDS=$$seconds CREDITRISK_FUZZ_SEED=$$seed $(VENV)/bin/pytest \
	  scoring/tests/api/test_openapi_conformance.py -q -p no:cacheprovider --hypothesis-seed=$$seed \
	  --timeout=$$((seconds + 900)); status=$$?; \
	echo "fuzz: seed $$seed (replay: make fuzz FUZZ_SEED=$$seed)"; exit $$status
