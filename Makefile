# Two entry points: `make demo` (set up, index the sample catalog, run example queries)
# and `make test`. Both create the virtual environment on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU wheel first: an unpinned torch would pull a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,serve,voice,scale]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/shopsearch demo --out fx-index --serve

# lint first (ruff, then mypy over src/shopsearch as configured in pyproject.toml): a style,
# import or type error fails the run before the long suite starts
test: lint
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks devkit
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) fx-index
