# Two commands do everything on a fresh machine with Python 3.11: `make run`, `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test check bench bench-quick bench-burst bench-mail bench-billing clean web worker

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

## run: the whole product on the embedded default, a demo company and a demo website
run: $(VENV)/.installed
	$(BIN)/python manage.py run

## test: install and run the whole suite (DATABASE_URL / REDIS_URL select the backends)
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## check: lint, types and the import contract (layers, no circles)
check: $(VENV)/.installed-dev
	$(BIN)/ruff check plug2support tests
	$(BIN)/mypy plug2support tests
	$(BIN)/lint-imports --no-cache

## bench: the benchmark suite (bench/README.md); bench-quick: under 2 minutes
$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(VENV)/.installed $(VENV)/.installed-dev $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run

bench-quick: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run --quick

## bench-burst: bursts of first messages and an operator's reconnect (bench/README.md)
bench-burst: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run --only burst

## bench-mail: inbound e-mail through the gateway and one worker (bench/README.md)
bench-mail: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run --only mail

## bench-billing: the daily subscription update for 100 000 companies (bench/README.md)
bench-billing: $(VENV)/.installed-bench
	$(BIN)/python -m bench.billing_daily

## web / worker: the production processes (see README, "Production")
web: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py web --host 0.0.0.0 --workers $${WEB_WORKERS:-2}

worker: $(VENV)/.installed
	$(BIN)/python manage.py worker

clean:
	rm -rf $(VENV) var
