# govdash: `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help install browser demo test test-fast lint format bench clean

help:
	@echo "make demo   - run govdash with a seeded MLflow server on http://127.0.0.1:8000"
	@echo "make test   - the whole test suite (installs what it needs)"
	@echo "make lint   - ruff, import-linter (layers) and mypy"
	@echo "make bench  - benchmarks (ratios against a baseline measured in the same run)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "govdash needs Python 3.11"' \
		|| { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Browser journeys need Debian's chromium; install it when we can (root + apt).
browser:
	@bash scripts/ensure-chromium.sh

demo: install
	$(BIN)/python scripts/demo.py

test: install browser
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -m "not browser" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	GOVDASH_DEBUG=true $(BIN)/mypy govdash kernel audit tracking reports approvals

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache staticfiles
