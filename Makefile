# The everyday commands. `make run` and `make test` are the README's two set-up commands:
# each installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint fmt typecheck bench demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,gevent]"
	touch $(STAMP)

run: install
	$(VENV)/bin/coachline up

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy coachline broker router workers scheduler

bench: install
	$(PY) bench/bench_scoring.py

demo: install
	$(VENV)/bin/coachline demo

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
