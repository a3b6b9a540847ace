# One task runner: `make demo`, `make test`, `make lint`, `make bench`.
# Every target creates and uses .venv by itself; only Python 3.11+ and make are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

# Third-party Qualys clients whose pins clash with ours: one venv each (tests/thirdparty).
CLIENT_REQS := $(wildcard tests/thirdparty/requirements/*.txt)
CLIENT_STAMPS := $(CLIENT_REQS:tests/thirdparty/requirements/%.txt=.venv-clients/%.stamp)

.PHONY: demo test lint typecheck pytest bench install dev clients clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,postgres]'
	touch $@ $(STAMP_RUN)

.venv-clients/%.stamp: tests/thirdparty/requirements/%.txt | $(STAMP_DEV)
	$(BIN)/python tests/thirdparty/build_client_venvs.py $<

install: $(STAMP_RUN)
dev: $(STAMP_DEV)
clients: $(CLIENT_STAMPS)

demo: $(STAMP_RUN)
	$(BIN)/cvesweep demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

pytest: $(STAMP_DEV) $(CLIENT_STAMPS)
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(STAMP_DEV)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-clients build dist .mypy_cache .pytest_cache .ruff_cache src/*.egg-info
