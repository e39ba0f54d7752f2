# One-word entry points. `make run` and `make test` set up .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO ?= demo
PORT ?= 8501

.PHONY: install run demo test test-fast lint format type-check bench all-checks clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/bps-labeler demo $(DEMO)

run: demo
	$(VENV)/bin/bps-labeler app $(DEMO)/project --port $(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

type-check: install
	$(VENV)/bin/mypy

test: install lint type-check
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -x -q --deselect tests/cli/test_main.py::test_demo_and_app__serve_the_demo_project

bench: install
	@set -e; for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f; done

all-checks: lint type-check test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/_work
