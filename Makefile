# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKER_CONCURRENCY ?= 2
export CREDITRISK_DATA_DIR ?= $(abspath ../shared/data/pakdd2010)

.PHONY: run test install migrate train model eda check-data services clean bench-api bench-batch audit

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

check-data:
	@test -e "$(CREDITRISK_DATA_DIR)" || [[ "$(CREDITRISK_DATA_DIR)" == s3://* ]] || { \
	  echo "The PAKDD 2010 data is not at $(CREDITRISK_DATA_DIR)."; \
	  echo "Set CREDITRISK_DATA_DIR to the folder (or s3://bucket/prefix) holding PAKDD2010_Modeling_Data.txt."; \
	  exit 1; }

# Trains only when no model version is active, so a second `make run` starts at once.
model: migrate check-data
	$(PY) manage.py train --if-none-active

run: model
	$(PY) manage.py ensure_demo_user
	@echo "Starting the web server on http://$(HOST):$(PORT)/ and a Celery worker (with the periodic sweep); Ctrl-C stops both."
	@trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A creditrisk worker -B --schedule var/celerybeat-schedule -Q scoring,batch --concurrency $(WORKER_CONCURRENCY) --loglevel INFO & \
	$(PY) manage.py runserver $(HOST):$(PORT)

services:
	bash scripts/ensure-services

test: install services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

# Full training on the shared data; rewrites docs/model_card.md and its figures.
train: migrate check-data
	$(PY) manage.py train --activate --model-card docs/model_card.md

eda: install check-data
	$(PY) notebooks/render.py --data-dir "$(CREDITRISK_DATA_DIR)" --output docs/eda.html

clean:
	rm -rf var .pytest_cache

# Benchmarks: commands, not tests. Figures go to docs/performance.md.
bench-api: install services check-data
	$(PY) scripts/bench_api.py --requests $${REQUESTS:-2000} --concurrency $${CONCURRENCY:-8}

# A million-row file through the bulk API with 2 worker processes, beside its in-process floor.
bench-batch: install services check-data
	$(PY) scripts/bench_batch.py --rows $${ROWS:-1000000}

# Known vulnerabilities of the installed packages (pip-audit, PyPI's advisory data); fails on any.
# Packages PyPI could not be asked about are counted; AUDIT_FLAGS=--strict fails on those too.
audit: install
	$(PY) scripts/audit_dependencies.py $(AUDIT_FLAGS)

# The lending simulation on the rows the active model held out; charts into docs/figures.
.PHONY: simulate
simulate: migrate
	$(PY) manage.py simulate --figures docs/figures

# Single scores at a steady rate, alone and while a 200,000-row bulk job runs; figures in docs/reliability.md.
.PHONY: bench-load
bench-load: install services check-data
	$(PY) scripts/bench_load.py --rate $${RATE:-5} --rows $${ROWS:-200000} --baseline-seconds $${BASELINE:-60} --after-seconds $${AFTER:-60}

# Cross-validated ROC AUC against training rows (would more labelled data help?); docs/modelling.md.
.PHONY: learning-curve
learning-curve: install check-data
	$(PY) scripts/learning_curve.py --data "$(CREDITRISK_DATA_DIR)/PAKDD2010_Modeling_Data.txt" --candidate $${CANDIDATE:-soft_voting} --figure docs/figures/learning-curve.png
