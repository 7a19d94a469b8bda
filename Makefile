# Two entry points (see README): `make data` builds the dataset, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: data test validate lint bench setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

data: setup
	$(BIN)/papers-etl build

validate: setup
	$(BIN)/papers-etl validate

lint: setup
	$(BIN)/ruff check etl tests bench

test: setup lint
	$(BIN)/pytest -q
	$(BIN)/papers-etl validate

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf build .pytest_cache
