# shadowgate — `make demo` runs the whole system locally; `make test` runs lint + tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the demo needs only shadowgate and scikit-learn (the `demo` extra), not the dev tools
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: demo test lint typecheck format venv clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/shadowgate demo

lint: $(STAMP)
	$(BIN)/ruff check shadowgate tests benchmarks
	$(BIN)/ruff format --check shadowgate tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q -ra

format: $(STAMP)
	$(BIN)/ruff format shadowgate tests benchmarks
	$(BIN)/ruff check --fix shadowgate tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
