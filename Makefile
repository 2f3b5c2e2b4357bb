# Spyglass: `make run` installs and starts the platform; `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# Debian packages the tests use: Chromium (driven by Playwright, which never downloads a browser),
# Prometheus (promtool, and the real server for comparisons) and Alertmanager; `debs` installs the missing ones.

.PHONY: run test lint bench install debs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# setup.py builds the compiled decoder (spyglass/collector/_wire.c, optional: without gcc and the
# Python headers the Python decoder is used); a change to it reinstalls, which rebuilds it.
WIRE := setup.py spyglass/collector/_wire.c

$(RUN_STAMP): pyproject.toml $(WIRE) | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $@

$(TEST_STAMP): pyproject.toml $(WIRE) | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(RUN_STAMP)

debs:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -x /usr/bin/promtool || missing="$$missing prometheus"; \
	test -x /usr/bin/prometheus-alertmanager || missing="$$missing prometheus-alertmanager"; \
	if [ -n "$$missing" ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

install: $(RUN_STAMP)

# `make run` starts Spyglass with the demo shop and its alert rules; `make run DEMO=false` starts it alone.
DEMO ?= true
DEMO_FLAGS = --demo $(DEMO)

run: $(RUN_STAMP)
	$(BIN)/spyglass serve $(DEMO_FLAGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check spyglass tests bench
	$(BIN)/ruff format --check spyglass tests bench
	$(BIN)/mypy spyglass

# The collector tests run twice: with the compiled decoder, and with the Python one it falls back to.
test: $(TEST_STAMP) debs lint
	$(BIN)/python -m pytest -q
	SPYGLASS_PURE_DECODER=1 $(BIN)/python -m pytest -q tests/collector

bench: $(TEST_STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info
