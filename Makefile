# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# a second environment without the optional engines (no torch, no tensorflow), to check
# that everything that needs neither works without them
MINVENV := .venv-minimal
MINSTAMP := $(MINVENV)/.installed-stamp
OUT    ?= runs/tour
# PyTorch's CPU wheels, for where pip finds none locally (PyPI's Linux wheel pulls CUDA's):
# make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
PIP_INDEX := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
# the tutorial's 100 points for the benchmark's linear-regression job, when shared/ is beside
POINTS ?= $(wildcard ../shared/data/data.csv)
LINT_PATHS := src tests $(wildcard bench)

.PHONY: demo test lint typecheck pytest pytest-minimal format bench benchmarks-md clean install

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_INDEX) -c constraints.txt -e '.[torch,tensorflow,bench,fast,dev]'
	@touch $@

$(MINSTAMP): pyproject.toml constraints.txt
	@test -x $(MINVENV)/bin/python || $(PYTHON) -m venv $(MINVENV)
	$(MINVENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))

demo: $(STAMP)
	$(BIN)/gradlab tour --out $(OUT)
	@echo "Notebooks in notebooks/: $(notdir $(NOTEBOOKS)); open them with '$(BIN)/pip install jupyterlab && $(BIN)/jupyter lab notebooks/', or in VS Code with $(BIN)/python as the kernel."

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

# the suite again without torch and tensorflow: what needs them skips, the rest must pass
pytest-minimal: $(MINSTAMP)
	$(MINVENV)/bin/python -m pytest -n 2 -q -p no:cacheprovider

test: lint typecheck pytest pytest-minimal

format: $(STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: $(STAMP)
	$(BIN)/gradlab bench $(if $(POINTS),--points $(POINTS))

benchmarks-md: $(STAMP)
	$(BIN)/gradlab bench $(if $(POINTS),--points $(POINTS)) --markdown BENCHMARKS.md

clean:
	rm -rf $(VENV) $(MINVENV) runs .mypy_cache .ruff_cache .pytest_cache
