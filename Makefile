# Quickstart: `make repro` runs the whole pipeline, `make test` runs the tests.
# Both create .venv on first use and reinstall only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Offline mirror: keep the caller's SEQ2SEQ_DATA_DIR, else use the team's mirror when it holds the archive.
ifeq ($(origin SEQ2SEQ_DATA_DIR),undefined)
ifneq ($(wildcard ../shared/data/fra-eng.zip),)
SEQ2SEQ_DATA_DIR := $(abspath ../shared/data)
endif
endif
export SEQ2SEQ_DATA_DIR
# Stages run `python`: make it the venv's. No usage reports from DVC.
export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: repro test lint params gpu-check clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# No byte-compiling at install: pip would compile every file of the dependencies, most of which
# nothing here imports. Python caches a module's bytecode in the venv the first time it imports it
# instead, and PYTHONDONTWRITEBYTECODE, which would stop that and recompile on every import, is
# dropped for make's commands (docs/speed.md).
unexport PYTHONDONTWRITEBYTECODE
# repro needs the pipeline's packages; test, lint and gpu-check also the test extras (pytest, ruff,
# selenium, psutil), installed after them so that `make -j` never runs two pip installs at once.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'
	touch $@

repro: $(VENV)/.installed
	$(BIN)/dvc repro

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src stages tests

# params.yaml and docs/params.md from src/seq2seq/config.py, the one home of every default.
params: $(VENV)/.installed
	$(BIN)/python -m seq2seq.paramsdoc

# On a machine with a CUDA GPU: the CUDA tests, then the bench in fp32 and bf16 (docs/speed.md).
gpu-check: $(VENV)/.installed-test
	$(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible')"
	$(BIN)/python -m pytest -v tests/test_cuda.py
	$(BIN)/seq2seq bench --device cuda --precision fp32
	$(BIN)/seq2seq bench --device cuda --precision bf16

clean-venv:
	rm -rf $(VENV)
