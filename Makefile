# ephemail — every set-up step lives here, so a fresh machine needs only `make run` / `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test lint typecheck contracts unit bench system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

## Start ephemail with the embedded SQLite default (SMTP 2525, HTTP 8025 on 127.0.0.1).
run: $(STAMP)
	$(BIN)/ephemail serve

## Install what the tests need (Debian packages when root), then lint, type-check,
## check the import layers and run every test.
test: $(STAMP) system-deps lint typecheck contracts
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2

system-deps:
	@bash scripts/system-deps.sh test

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

## Benchmarks (not part of `make test`): results go to docs/benchmarks.md.
bench: $(STAMP)
	@bash scripts/system-deps.sh bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build src/*.egg-info
