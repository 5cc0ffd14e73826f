# Two commands for a newcomer: `make test` (everything) and `make demo`.
# The virtualenv is created on first use and refreshed when the pins change.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: test demo stress fuzz soak check lint type docs clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

## Run every test: unit, in-process integration and real-server (test_release/).
test: $(VENV)/.installed
	$(PY) -bb -m pytest test test_release $(PYTEST_ARGS)

## Many requests over one HTTP/2 connection to an in-process server (no network needed).
demo: $(VENV)/.installed
	$(PY) examples/demo.py

## The HTTP/2 thread and re-send tests 20 times under python -X dev (about 2 min on 2 cores); CI runs it.
stress: $(VENV)/.installed
	HYPER_STRESS_ROUNDS=20 $(PY) -X dev -bb -m pytest -p no:cacheprovider -q -n 2 \
		test/test_http20_threads.py test/test_http20_recovery.py \
		test_release/test_http20_threads_release.py

FUZZ_SECONDS ?= 20
SOAK_REQUESTS ?= 100000
SOAK_THREADS ?= 8

## Fuzz the HTTP/1.1 parser, the decoders and the HTTP/2 receive path, FUZZ_SECONDS each (600 for a long run).
fuzz: $(VENV)/.installed
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(PY) -b -m fuzz

## One HTTP/2 connection, SOAK_REQUESTS requests from SOAK_THREADS threads, random server faults.
soak: $(VENV)/.installed
	SOAK_REQUESTS=$(SOAK_REQUESTS) SOAK_THREADS=$(SOAK_THREADS) $(PY) -b -m fuzz.soak

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
