# The two commands of the README: `make demo` and `make test`. Both install first.
VENV := .venv
STAMP := $(VENV)/.installed
# The checkout is the Dagster home (dagster.yaml keeps the instance in .dagster/) unless the
# user set DAGSTER_HOME.
export DAGSTER_HOME ?= $(CURDIR)

.PHONY: install demo demo-ci test lint format lock

$(STAMP): requirements.lock pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/energy-assets demo

demo-ci: $(STAMP)
	$(VENV)/bin/energy-assets demo --no-ui

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check energy_assets energy_assets_tests benchmarks
	$(VENV)/bin/ruff format --check energy_assets energy_assets_tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format energy_assets energy_assets_tests benchmarks
	$(VENV)/bin/ruff check --fix energy_assets energy_assets_tests benchmarks

lock:
	python3 -m uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11
	python3 -m uv pip compile --group pyproject.toml:serving -c requirements.lock \
		-o energy_assets/serving/requirements.lock --python-version 3.11
