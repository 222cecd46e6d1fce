# The EAS service template: `make demo` shows it working, `make test` proves it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := build/demo
WHEELHOUSE ?= build/wheelhouse

# Nothing run from here may probe the ECS metadata address or read a personal CLI profile.
export ALIBABA_CLOUD_ECS_METADATA_DISABLED := true
export ALIBABA_CLOUD_CLI_PROFILE_DISABLED := true

.DEFAULT_GOAL := help
.PHONY: help demo test reliability wheelhouse lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt eas-devkit/pyproject.toml
	@echo "Creating $(VENV) from requirements-dev.txt…"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

demo: $(VENV)/.installed ## bake the default service and run it on the local EAS (KEEP=1 keeps it running)
	@rm -rf $(DEMO_DIR)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	@cd $(DEMO_DIR)/* && VIRTUAL_ENV=$(abspath $(VENV)) $(MAKE) --no-print-directory demo KEEP=$(KEEP)

test: $(VENV)/.installed ## lint; the kit's own tests; then bake every option combination and run what it makes
	$(BIN)/python -m ruff check . eas-devkit
	cd eas-devkit && ../$(BIN)/python -m pytest -n 2 $(KIT_PYTEST_ARGS)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

reliability: $(VENV)/.installed ## the template's reliability test, long (EXAMPLES=1000 generated answers); figures to docs/reliability.md
	RELIABILITY_REPORT=RELIABILITY.md TEMPLATE_INPUT_EXAMPLES=$(or $(EXAMPLES),1000) \
	$(BIN)/python -m pytest -p no:xdist -q tests/test_template_input.py

# A classroom without internet: the wheels of everything a generated project installs (its pins, and the kit at
# this checkout's commit, which is what a project baked from it pins), built for $(PYTHON), and of cookiecutter
# and cruft for this machine's Python. A project installs from it with `make dev WHEELHOUSE=<this directory>`.
wheelhouse: $(VENV)/.installed ## wheels of every pin and the kit, for a classroom without internet (PYTHON=python3.9)
	@rm -rf build/wheelhouse-bake
	@$(BIN)/cookiecutter --no-input --output-dir build/wheelhouse-bake . >/dev/null
	@echo "Building wheels of every pin and the kit for $$($(PYTHON) --version) into $(WHEELHOUSE)/…"
	@$(PYTHON) -m pip wheel --quiet --disable-pip-version-check --use-pep517 --wheel-dir $(WHEELHOUSE) \
		-r build/wheelhouse-bake/my_eas_service/requirements-dev.txt $$(grep -E '^setuptools==' requirements-dev.txt)
	@$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --use-pep517 --wheel-dir $(WHEELHOUSE) \
		$$(grep -E '^(cookiecutter|cruft)==' requirements-dev.txt)
	@rm -rf build/wheelhouse-bake
	@echo "$(WHEELHOUSE): $$(ls $(WHEELHOUSE) | wc -l) wheels. In a generated project: make dev WHEELHOUSE=$(abspath $(WHEELHOUSE))"

lint: $(VENV)/.installed ## ruff on the template's own code and the kit
	$(BIN)/python -m ruff check . eas-devkit

clean: ## remove the virtualenv and the baked demo
	rm -rf $(VENV) build
