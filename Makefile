# Spyglass: `make run` installs and starts the platform; `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# Browser tests drive Debian's Chromium through Playwright; Playwright never downloads a browser.
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint bench install browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(RUN_STAMP)

$(CHROMIUM):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

install: $(RUN_STAMP)

browser: $(CHROMIUM)

run: $(RUN_STAMP)
	$(BIN)/spyglass serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check spyglass tests bench
	$(BIN)/ruff format --check spyglass tests bench
	$(BIN)/mypy spyglass

test: $(TEST_STAMP) browser lint
	$(BIN)/python -m pytest -q

bench: $(TEST_STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info
