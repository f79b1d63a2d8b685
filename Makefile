# Two entry points for a fresh machine with Python >= 3.10 and pip:
#   make train   create .venv, install, train on the bundled QM9 sample, write samples/metrics/pictures
#   make test    create .venv, install, run the test suite
#   make docs    build the documentation site into site/ (strict: a broken reference or link fails)
# The virtual environment is rebuilt only when pyproject.toml or constraints.txt change.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/qm9_5k.yaml
RUN    ?= runs/qm9_5k

.PHONY: install train test test-all lint docs clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The constraints file pins the tested versions (torch==2.13.0: a local CPU build, not the CUDA one).
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,qm9,fcd,docs]"
	# MOSES' data files (data.name: moses); its declared dependencies do not install and are not needed.
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt molsets==0.3.1
	touch $(STAMP)

# Re-running continues an interrupted run, or skips straight to sampling when it is complete.
train: $(STAMP)
	if [ -f $(RUN)/checkpoint.pt ]; then $(BIN)/molgen train $(CONFIG) --resume $(RUN); \
	else $(BIN)/molgen train $(CONFIG) --out $(RUN); fi
	$(BIN)/molgen sample $(RUN) -n 1000 -o $(RUN)/samples.smi --image $(RUN)/samples.png
	$(BIN)/molgen evaluate $(RUN)/samples.smi --reference $(RUN)/train.smi --out $(RUN)/report.json --plots

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ""

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# NO_MKDOCS_2_WARNING silences mkdocs-material's banner about its successor.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .cache runs site
