# The two commands: `make run` serves the product, `make test` passes the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The embedded run and the tests are development: DEBUG on (settings default to off, for production).
export DEBUG ?= true

.PHONY: run test lint format install install-dev migrate seed serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

migrate: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py createcachetable

seed: migrate
	$(PY) manage.py seed_demo

## run: set everything up and serve on http://$(HOST):$(PORT) with a worker and the scheduler
run: seed
	HOST=$(HOST) PORT=$(PORT) PY=$(PY) ./bin/serve-embedded

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## test: lint, then the whole suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
test: lint
	$(PY) manage.py makemigrations --check --dry-run > /dev/null
	$(BIN)/pytest

## bench: every benchmark, one table of figures beside their limits (needs PostgreSQL and Redis running;
## DATABASE_URL/REDIS_URL default to postgres://postgres@127.0.0.1:5432/loyalty_bench and redis db 9)
bench: install-dev
	@command -v wrk >/dev/null || { echo "installing wrk (the HTTP load generator)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) \
		|| echo "WARNING: could not install wrk; the POS benchmark will say so"; }
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
