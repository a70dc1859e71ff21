# Two commands do all the setup on a fresh machine: `make poc` and `make test`.
PLATFORM ?= auto
PROFILE ?= quick
ARGS ?=
VENV := .venv/bin
RUN ?= reports/latest
BASELINE ?= baselines/nightly/results.json
CURRENT ?= reports/latest

.PHONY: setup lock poc test test-fast lint notebook compare update-baseline kind-tools cleanup

setup:
	@bash scripts/setup.sh

# requirements.lock: every dependency (dev tools too) pinned with hashes; setup installs exactly it.
# `make lock` is the deliberate step that changes it (commit it with a line saying why): it keeps the
# current pins unless pyproject.toml needs otherwise; `make lock LOCK_ARGS=--upgrade` moves all to the
# newest, `LOCK_ARGS='--upgrade-package pymysql'` one. uv (pinned) runs from a throwaway venv.
# The lock is resolved for x86_64 Linux and Python 3.11, whatever machine refreshes it: that is what
# the test and nightly machines and CI (ubuntu, setup-python 3.11) run, and the hashes only cover
# the wheels of that platform. setuptools comes in on stdin: the editable install of the harness is
# built without build isolation, so its build backend has to be in the lock as well.
UV_VERSION := 0.13.9
LOCK_PYTHON := 3.11
LOCK_PLATFORM := x86_64-unknown-linux-gnu
LOCK_ARGS ?=
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  $${PYTHON:-python3} -m venv "$$tmp/uv"; \
	  "$$tmp/uv/bin/python" -m pip install -q --disable-pip-version-check uv==$(UV_VERSION); \
	  echo 'setuptools>=68' | UV_CUSTOM_COMPILE_COMMAND='make lock' "$$tmp/uv/bin/uv" pip compile \
	    pyproject.toml - --extra dev --generate-hashes --python-version $(LOCK_PYTHON) \
	    --python-platform $(LOCK_PLATFORM) -o requirements.lock $(LOCK_ARGS) >/dev/null
	@echo "requirements.lock refreshed: review git diff requirements.lock, then make setup"

poc: setup
	$(VENV)/harness run --platform $(PLATFORM) --profile $(PROFILE) --out reports $(ARGS)

test: setup
	$(VENV)/python -m pytest $(ARGS)

# The tests that need no real server (no mariadbd, redis-server or Sentinel, no load worker): the
# `server` marker (tests/conftest.py) selects the others; the settings fuzz runs 200 examples per
# test instead of 1500. Under a minute.
test-fast: setup
	HARNESS_TEST_FUZZ_EXAMPLES=200 $(VENV)/python -m pytest -m "not server" -n auto $(ARGS)

# ruff, then mypy at default strictness on harness/ and scenarios/ ([tool.mypy] in pyproject.toml).
lint: setup
	$(VENV)/ruff check harness scenarios tests benchmarks
	$(VENV)/mypy

cleanup: setup
	$(VENV)/harness cleanup

notebook: setup
	$(VENV)/python -m harness.notebook $(RUN)

compare: setup
	$(VENV)/harness compare $(BASELINE) $(CURRENT)

# The explicit, reviewed step that moves the nightly baseline: copy a good run's results.json.
update-baseline: setup
	$(VENV)/python -c "import sys; from harness.results import read_results; read_results(sys.argv[1])" $(RUN)
	mkdir -p $(dir $(BASELINE))
	cp $(RUN)/results.json $(BASELINE)
	@echo "baseline updated from $(RUN): commit $(BASELINE)"

kind-tools: setup
	$(VENV)/harness doctor --platform kind --fetch-tools
