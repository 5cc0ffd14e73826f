# The benchmark: `make bench` (full run, about 3 minutes) and `make bench-quick`
# (small sizes, one run per cell, well under 3 minutes: CI's smoke check that every
# client completes every workload it supports). Included from the top-level
# Makefile after PYTHON, VENV and PY are defined.
#
# Each peer client gets its own virtualenv under bench/.venvs/, built from the
# exact pins in bench/requirements-<peer>.txt and rebuilt from scratch when
# they change (niquests installs urllib3-future, which replaces urllib3, so it
# must not share an environment with requests). hyper's own clients run in
# $(VENV). The servers (h2o, nginx) and the C references (curl, h2load) are
# Debian packages: nginx-light h2o curl nghttp2-client.

BENCH_VENVS := bench/.venvs
BENCH_PEERS := httpx niquests pycurl
BENCH_STAMPS := $(foreach peer,$(BENCH_PEERS),$(BENCH_VENVS)/$(peer)/.installed)
BENCH_ARGS ?=

.PHONY: bench bench-quick bench-envs
.PRECIOUS: $(BENCH_STAMPS)

$(BENCH_VENVS)/%/.installed: bench/requirements-%.txt
	rm -rf $(BENCH_VENVS)/$*
	$(PYTHON) -m venv $(BENCH_VENVS)/$*
	$(BENCH_VENVS)/$*/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

## Create (or reuse) the peers' virtualenvs.
bench-envs: $(BENCH_STAMPS)

## Benchmark hyper against httpx, niquests, pycurl, curl and h2load; writes bench/results/latest.rst.
bench: $(VENV)/.installed $(BENCH_STAMPS)
	$(PY) -m bench $(BENCH_ARGS)

## The same at small sizes, one run per cell; exits non-zero if a client fails a workload.
bench-quick: $(VENV)/.installed $(BENCH_STAMPS)
	$(PY) -m bench --quick $(BENCH_ARGS)
