# Two entry points: `make test` and `make demo`. Both (re)create .venv from the pinned lock.
# The newest of python3.13, python3.12, python3.11 found on PATH; override with `make PYTHON=/path/to/python test`.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach candidate,python3.13 python3.12 python3.11,$(shell $(candidate) -c "import sys" >/dev/null 2>&1 && command -v $(candidate))))
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo bench lock clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || test -n "$(PYTHON)" || \
		{ echo "error: no python3.13, python3.12 or python3.11 on PATH; install one or run make PYTHON=/path/to/python3.1x" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/python -m scripts.demo

bench: $(STAMP)
	$(BIN)/python -m scripts.bench

# Refresh the pinned versions after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
