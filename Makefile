PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps in one virtual environment: BASE_STAMP once kiln itself is installed (all that the
# quickstart needs), STAMP once the dev extras are too (tests, lint: catboost, shap, torch, pytest).
# Installing the dev extras installs kiln as well, so it renews both stamps: either order works, and
# a change to pyproject.toml renews whichever is asked for next.
BASE_STAMP := $(VENV)/.installed-base
STAMP := $(VENV)/.installed

.PHONY: quickstart test lint benchmarks clean

# Python caches compiled modules (__pycache__, ignored by git) unless PYTHONDONTWRITEBYTECODE is
# set, as it is on some CI machines: then every process compiles kiln's sources again, and every
# pytest worker rewrites and compiles every test module. The tests start hundreds of processes
# (the CLI, jobs, servers): collecting the suite took 13 s a worker with the variable set, 5.5 s
# without it.
unexport PYTHONDONTWRITEBYTECODE

$(BASE_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(BASE_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(BASE_STAMP) $(STAMP)

quickstart: $(BASE_STAMP)
	$(BIN)/kiln quickstart

# The suite runs in parallel (pytest-xdist), three workers by default: many tests spend their
# time waiting on job processes, servers and a browser rather than computing, and on a 2-core
# machine 3 workers ran the parallel phase in 9:17 where one per core took 10:59 (same clone,
# same machine, one after the other). Every test works in folders of its own, so any split
# works; TEST_DIST picks the split. worksteal: each worker starts
# on its half of the tests and an idle one takes half of what another has left, so a long test
# near the end of a file does not hold back the rest of that file (loadfile) while a core idles.
# Tests marked solo measure time (AutoML's time limit) or race child processes against signals
# and timeouts (job stops, lost jobs): they run afterwards, alone, so no other test takes their
# cores. Only the files that mark tests solo are collected for that run (collecting all of tests/
# costs seconds of the solo run's wall time).
TEST_WORKERS ?= 3
TEST_DIST ?= worksteal

# The PostgreSQL tests start their own server (tests/services.py) from Debian's postgresql
# package, the feature store's online-store tests start Debian's redis-server, and Studio's
# browser tests drive Debian's chromium: as root on a machine without them, install them first
# (quiet; a no-op when present).
PG_INITDB := $(firstword $(shell command -v initdb) $(wildcard /usr/lib/postgresql/*/bin/initdb))

test: $(STAMP)
	@if [ -z "$(PG_INITDB)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing PostgreSQL for the store tests (apt-get install postgresql)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends postgresql >/dev/null; fi
	@if [ ! -x /usr/bin/redis-server ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Redis for the feature store tests (apt-get install redis-server)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends redis-server >/dev/null; fi
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Chromium for the Studio browser tests (apt-get install chromium)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium >/dev/null; fi
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist $(TEST_DIST) -m "not solo" --durations=15
	$(BIN)/python -m pytest -q -m solo --durations=10 $$(grep -rl --include='*.py' 'mark.solo' tests)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/transform.py

clean:
	rm -rf $(VENV) .kiln .pytest_cache
