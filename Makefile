# The README's commands. Each sets itself up on a fresh machine, idempotently.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Our machines hold these wheels on local disk; elsewhere: make run TORCH_SPEC="torch torchvision"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.lvrbench-installed

.PHONY: run test check lint setup datasets benchmark

run: setup datasets
	$(BIN)/lvrbench run --all

test: setup datasets lint
	$(BIN)/python -m pytest -q -n auto

# The fast lane while iterating: the unit tests, without the end-to-end ones (marked slow).
check: setup datasets
	$(BIN)/python -m pytest -q -n auto -m "not slow"

lint: setup
	$(BIN)/ruff check .

benchmark: setup
	$(BIN)/python benchmarks/recovery_engine.py

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/pip install $(TORCH_SPEC)
	$(BIN)/pip install -e '.[test]'
	touch $(STAMP)

datasets:
	@scripts/ensure-datasets
