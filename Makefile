# Two commands for a newcomer: `make test` (everything) and, later, `make demo`.
# The virtualenv is created on first use and refreshed when the pins change.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: test check lint type docs clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

## Run every test: unit, in-process integration and real-server (test_release/).
test: $(VENV)/.installed
	$(PY) -bb -m pytest test test_release $(PYTEST_ARGS)

$(VENV)/.tox-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -c constraints.txt tox
	touch $@

## Lint, type-check and build the docs (warnings are errors), as CI does.
check: $(VENV)/.tox-installed
	$(VENV)/bin/tox -e lint,type,docs

lint type docs: $(VENV)/.tox-installed
	$(VENV)/bin/tox -e $@

clean:
	rm -rf $(VENV) .tox docs/build build dist *.egg-info

## Benchmarks against httpx, niquests, pycurl, curl and h2load: make bench, make bench-quick
include bench/bench.mk
