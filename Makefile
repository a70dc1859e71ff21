# Two commands do all the setup on a fresh machine: `make poc` and `make test`.
PLATFORM ?= auto
PROFILE ?= quick
ARGS ?=
VENV := .venv/bin

.PHONY: setup poc test lint notebook clean-runs cleanup

setup:
	@bash scripts/setup.sh

poc: setup
	$(VENV)/harness run --platform $(PLATFORM) --profile $(PROFILE) --out reports $(ARGS)

test: setup
	$(VENV)/python -m pytest $(ARGS)

lint: setup
	$(VENV)/ruff check harness scenarios tests benchmarks

cleanup: setup
	$(VENV)/harness cleanup
