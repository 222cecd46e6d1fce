# The EAS service template: `make demo` shows it working, `make test` proves it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := build/demo

# Nothing run from here may probe the ECS metadata address or read a personal CLI profile.
export ALIBABA_CLOUD_ECS_METADATA_DISABLED := true
export ALIBABA_CLOUD_CLI_PROFILE_DISABLED := true

.DEFAULT_GOAL := help
.PHONY: help demo test reliability lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	@echo "Creating $(VENV) from requirements-dev.txt…"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

demo: $(VENV)/.installed ## bake the default service and run it on the local EAS (KEEP=1 keeps it running)
	@rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	@cd $(DEMO_DIR)/* && VIRTUAL_ENV=$(abspath $(VENV)) $(MAKE) --no-print-directory demo KEEP=$(KEEP)

test: $(VENV)/.installed ## lint, then bake every option combination and run what it makes
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

reliability: $(VENV)/.installed ## the template's reliability test, long (EXAMPLES=1000 generated answers); figures to README
	RELIABILITY_REPORT=RELIABILITY.md TEMPLATE_INPUT_EXAMPLES=$(or $(EXAMPLES),1000) \
	$(BIN)/python -m pytest -p no:xdist -q tests/test_template_input.py

lint: $(VENV)/.installed ## ruff on the template's own code
	$(BIN)/python -m ruff check .

clean: ## remove the virtualenv and the baked demo
	rm -rf $(VENV) build
