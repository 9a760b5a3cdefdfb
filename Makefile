# Two entry points a newcomer runs: `make demo` and `make test`. Both create .venv if needed.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast suites bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/supernetbench demo --out demo-out

test: $(STAMP)
	$(BIN)/python -m pytest tests suites -m "not slow" -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -q -x

bench: $(STAMP)
	$(BIN)/asv run --python=same --quick --show-stderr

clean:
	rm -rf $(VENV) .asv demo-out
