# kehu — the README's two commands are `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
PYTHON ?= python3

.PHONY: venv demo test bench soak lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,spark]'
	@touch $(STAMP)

venv: $(STAMP)

demo: venv  ## fresh data dir, bundled sample data, classify, serve on 127.0.0.1:8000
	$(VENV)/bin/kehu demo

test: venv  ## the whole test suite (SQLite and PostgreSQL)
	$(PY) -m pytest -q -p no:cacheprovider -n 2

bench: venv  ## benchmarks: 10M orders / 1M customers vs plain DuckDB (and Spark); PostgreSQL import vs COPY; models
	$(PY) -m pip install -q -e '.[dev,spark,bench]'
	$(PY) benchmarks/run.py
	$(PY) benchmarks/pg_import.py
	$(PY) benchmarks/models.py

soak: venv  ## 50 clients for 5 min + faults (PostgreSQL restart, killed classify, killed server) on 127.0.0.1
	$(PY) benchmarks/soak

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src/kehu

clean:
	rm -rf $(VENV) kehu-data bench-data test-artifacts
