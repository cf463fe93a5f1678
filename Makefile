# Two commands set up a fresh machine that has only Python and pip:
#   make demo   install (with the server extra), train on the sample corpus, predict one
#               new article; then `.venv/bin/tagger serve --model models/demo --db f.db`
#   make test   install with the dev extras and run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: demo test install install-dev lint format bench-clean clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[server]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/tagger train corpus/sample.jsonl --out models/demo
	$(BIN)/tagger predict --model models/demo corpus/examples/new-article.txt --explain

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -rs tests

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check tagger tests bench
	$(BIN)/ruff format --check tagger tests bench

format: $(VENV)/.installed-dev
	$(BIN)/ruff format tagger tests bench
	$(BIN)/ruff check --fix tagger tests bench

clean:
	rm -rf $(VENV) models/demo models/.demo.* .pytest_cache .ruff_cache
