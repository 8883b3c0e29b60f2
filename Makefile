# Agora: `make run` serves GraphiQL with demo data; `make test` runs the whole suite.
# Both set up everything they need first (venv, dependencies, keys, database).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint schema migrate seed bench fuzz soak check-alerts clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(BIN)/agora migrate

seed: migrate
	$(BIN)/agora seed

run: migrate
	$(BIN)/agora seed --if-empty
	$(BIN)/agora serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app schema marketplace migrations tests bench
	$(BIN)/ruff format --check app schema marketplace migrations tests bench
	$(BIN)/lint-imports

# The Prometheus alert rules (deploy/prometheus): promtool check and unit tests.
check-alerts:
	deploy/check-alerts

schema: $(STAMP)
	$(BIN)/agora schema export --output schema.graphql

bench: $(STAMP)
	$(BIN)/python -m bench

# Schema fuzzing against a real server: fails on any 5xx or INTERNAL (FUZZ_ARGS="--operations N").
fuzz: $(STAMP)
	$(BIN)/python -m bench.fuzz $(FUZZ_ARGS)

# A minute of mixed load at fixed concurrency: fails on any error or 10 % RSS growth.
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
