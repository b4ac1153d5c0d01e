# Every target creates what it needs; nothing has to be installed by hand.
# Python 3.11 and make are the only prerequisites.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
# make up's data: the store in $(DATA)/s3, Airflow's PostgreSQL in $(DATA)/pg.
DATA   ?= $(CURDIR)/.data

.PHONY: help venv browser readers services redis test test-fast test-distributed lint fmt up demo bench lock clean audit

help:
	@echo "make up     start embedded object storage + Airflow on loopback (Ctrl-C stops all)"
	@echo "make test   install what is missing and run the whole test suite"
	@echo "make test-fast  the edit loop: lint + tests that start no Airflow, browser or stack"
	@echo "make test-distributed  Airflow's distributed setup (CeleryExecutor, two workers, PostgreSQL, Redis) end to end"
	@echo "make demo   one sample incident through preliminary -> updated -> corrected"
	@echo "make bench  release cost vs. history size and the floor, restart, rebuild, REST latency -> bench/results.md"
	@echo "make lint   ruff check + format check"
	@echo "make lock   re-resolve requirements.lock from pyproject.toml"
	@echo "make browser  install Debian's chromium for the browser tests (if missing)"
	@echo "make services install Debian's postgresql for make up's metadata database (if missing)"
	@echo "make redis    install Debian's redis-server for make test-distributed (if missing)"

venv: $(STAMP)

# The lock file pins every package (uv resolves it in seconds; pip alone takes ~30 s
# and has no lock format of its own).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

lock:
	test -x $(BIN)/uv || ($(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet "uv==0.13.9")
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

# Browser tests drive Debian's chromium through Playwright (Playwright's own browser download does not work
# here); make up's metadata database is PostgreSQL from Debian's binaries (SQLite takes one writer at a
# time: concurrent triggers failed with HTTP 500); devstack runs its own server, nothing is set up
# system-wide. As root with apt-get (CI, the developer machines) a missing package is installed and a
# failed install fails the target. Without root or apt-get they say so loudly and succeed, so that
# `make test` runs the rest: the browser tests are skipped, naming what to install (tests/conftest.py), and
# `make up` falls back to SQLite with a warning of its own. The logic is devstack/need-package.sh.
CHROMIUM ?= /usr/bin/chromium
INITDB   ?= /usr/lib/postgresql/*/bin/initdb initdb
REDIS_SERVER ?= /usr/bin/redis-server redis-server
export CHROMIUM

browser:
	@sh devstack/need-package.sh chromium \
	  "The browser tests (pytest -m browser) will be SKIPPED; everything else runs." $(CHROMIUM)

# A real feed reader for the feed tests: Debian's newsboat, driven in a terminal by tmux (tests/test_newsboat.py).
readers:
	@sh devstack/need-package.sh newsboat "The newsboat test will be SKIPPED; everything else runs." newsboat
	@sh devstack/need-package.sh tmux "The newsboat test will be SKIPPED; everything else runs." tmux

services:
	@sh devstack/need-package.sh postgresql \
	  "make up will use SQLite (simultaneous triggers may fail); the PostgreSQL stack tests will be SKIPPED." \
	  $(INITDB)

redis:
	@sh devstack/need-package.sh redis-server \
	  "make test-distributed will FAIL: Redis is the Celery broker of the distributed setup." $(REDIS_SERVER)

test: $(STAMP) browser services readers
	$(BIN)/ruff check releases devstack dags plugins tests bench
	$(BIN)/ruff format --check releases devstack dags plugins tests bench
	$(BIN)/python -m pytest -m "not distributed"

# Airflow's distributed setup, the shape of docker-compose.yml without Docker (tests/test_distributed.py):
# PostgreSQL, Redis and SeaweedFS on loopback, api-server, scheduler, dag-processor, triggerer and two
# Celery workers, each a process of its own; releases through the REST API. .ci/run runs it after test.
# Its logs stay in test-artifacts/distributed/ (the last line says where).
test-distributed: $(STAMP) services redis
	@$(BIN)/python -m pytest -m distributed -p no:cacheprovider -v -s tests/test_distributed.py; \
	  status=$$?; echo "make test-distributed: every component's log is in $(CURDIR)/test-artifacts/distributed/"; \
	  exit $$status

# The edit loop: everything but the tests marked slow (Airflow runs, browsers, the whole stack).
test-fast: $(STAMP)
	$(BIN)/ruff check releases devstack dags plugins tests bench
	$(BIN)/python -m pytest -q -m "not slow" -n 2

lint: $(STAMP)
	$(BIN)/ruff check releases devstack dags plugins tests bench
	$(BIN)/ruff format --check releases devstack dags plugins tests bench

fmt: $(STAMP)
	$(BIN)/ruff format releases devstack dags plugins tests bench
	$(BIN)/ruff check --fix releases devstack dags plugins tests bench

up: $(STAMP) services
	$(BIN)/python -m devstack up --data-dir $(DATA)/s3

demo: $(STAMP)
	$(BIN)/python -m devstack demo

# Known vulnerabilities in the locked dependencies. Needs the PyPI JSON API (or OSV): on a
# machine that reaches only the package index it audits nothing, so it is not part of test.
audit: $(STAMP)
	$(BIN)/pip-audit --strict -r requirements.lock --disable-pip --no-deps

# Speed is measured here, never asserted in tests: figures go to bench/results.md, one section per
# script (see bench/README.md; about 35 minutes on 2 shared cores). bench_stack starts its own
# `make up` stack on free ports, so a running one is neither needed nor touched.
bench: $(STAMP)
	$(BIN)/python bench/bench_release.py --sizes 0,1000,10000 -k 12 --out bench/results.md
	$(BIN)/python bench/bench_restart.py --sizes 0,1000,10000 --repeats 3 --out bench/results.md
	$(BIN)/python bench/bench_rebuild.py --sizes 10000 -k 4 --out bench/results.md
	$(BIN)/python bench/bench_stack.py --sequential 20 --simultaneous 20 --burst 50 --out bench/results.md

clean:
	rm -rf $(VENV) .airflow .pytest_cache
