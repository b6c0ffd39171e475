# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

install: $(STAMP)

## Run the bot here in PAPER mode on the simulated market, 10x faster than real time.
run: $(STAMP)
	$(BIN)/bot run --home . --mode paper --speed 10

## Lint, type-check and run the whole test suite. `make test WORKERS=2` runs it on two pytest-xdist
## workers, a module's tests on one worker (loadscope: several modules share one bot): about half
## the wall time, but not yet the default: under a CPU hog it failed tests (docs/testing.md).
WORKERS ?= 0
test: $(STAMP) lint typecheck
	$(BIN)/pytest $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadscope)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## Print every benchmark's figures as JSON (docs/benchmarks.md says what they mean).
bench: $(BENCH_STAMP)
	$(BIN)/python bench/control_latency.py
	$(BIN)/python bench/adjust_latency.py
	$(BIN)/python bench/emergency_stop.py
	$(BIN)/python bench/risk_checks.py
	$(BIN)/python bench/live_roundtrip.py
	$(BIN)/python bench/live_faults.py
	$(BIN)/python bench/ws_feed.py
	$(BIN)/python bench/rolling_windows.py
	SOAK_HOURS=1 $(BIN)/python bench/soak.py
	$(BIN)/python bench/backtest_throughput.py
	$(BIN)/python bench/operator_commands.py
	$(BIN)/python bench/journal_check.py
	$(BIN)/python bench/load_formats.py
	$(BIN)/python bench/real_file.py
	$(BIN)/python bench/inbox_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
