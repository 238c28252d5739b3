# Partner Center competencies: `make run` and `make test` are all you need.
# Django 6 needs Python >= 3.12: the first one found is used (override with PYTHON=...).
PYTHON ?= $(shell for p in python3.13 python3.12 $(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3) $(wildcard /root/.pyenv/versions/3.1[2-9]*/bin/python3); do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
# Where the dashboard is reached: the demo's printed sign-in address and the links in emails.
export SITE_URL ?= http://$(HOST):$(PORT)

.PHONY: run setup test lint stress bench messages translations clean

# What production runs (requirements.txt), and beside it what the tests and benchmarks need (requirements-dev.txt).
$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed (Django 6): set PYTHON=/path/to/python3.12"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## translations: compile the message catalogs (locale/*/LC_MESSAGES/django.po -> .mo, pure Python)
translations: $(VENV)/.installed
	$(MANAGE) translations

## messages: collect new and changed messages of the code and templates into the catalogs (needs GNU gettext)
messages: $(VENV)/.installed
	$(MANAGE) translations --extract

## setup: virtualenv, dependencies, compiled translations, database schema, catalog and demo data
setup: translations
	$(MANAGE) migrate --noinput
	$(MANAGE) load_catalog
	$(MANAGE) seed_demo

## run: set up, then serve http://$(HOST):$(PORT) with the Celery worker and beat (nightly jobs)
run: setup
	bin/run $(HOST) $(PORT)

## test: the whole suite (SQLite and an eager broker unless DATABASE_URL / CELERY_BROKER_URL say otherwise)
test: lint translations
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff (style, complexity) and import-linter (the layers: partnercenter above memberships above competencies)
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

## stress: the long fault and bad-input runs: >= 20 workers killed mid-night, Redis crashed and restarted,
## 1,000 generated inputs per property. Needs PostgreSQL and Redis (DATABASE_URL, CELERY_BROKER_URL) and redis-server.
STRESS_FAULT_RUNS ?= 24
STRESS_REDIS_RUNS ?= 6
STRESS_EXAMPLES ?= 1000
stress: translations $(VENV)/.installed-dev
	@case "$$DATABASE_URL" in postgres*) ;; *) echo "make stress needs PostgreSQL: DATABASE_URL=postgres://..."; exit 1;; esac
	@case "$$CELERY_BROKER_URL" in redis*) ;; *) echo "make stress needs Redis: CELERY_BROKER_URL=redis://..."; exit 1;; esac
	FAULT_RUNS=$(STRESS_FAULT_RUNS) REDIS_RUNS=$(STRESS_REDIS_RUNS) HYPOTHESIS_EXAMPLES=$(STRESS_EXAMPLES) \
		$(PY) -m pytest -m "" tests/test_faults.py tests/test_bad_input.py $(PYTEST_ARGS)

## bench: the benchmark suite (needs PostgreSQL and Redis: DATABASE_URL, CELERY_BROKER_URL; wrk for the pages)
bench: $(VENV)/.installed-dev
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/*
