# Two commands do all the setup on a fresh machine: `make poc` and `make test`.
PLATFORM ?= auto
PROFILE ?= quick
ARGS ?=
VENV := .venv/bin
RUN ?= reports/latest
BASELINE ?= baselines/nightly/results.json
CURRENT ?= reports/latest

.PHONY: setup poc test lint notebook compare update-baseline kind-tools cleanup

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
