# paper-notebooks: every target creates .venv when it is missing.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 1
PYTEST_ARGS ?=

.PHONY: setup reproduce test lab report list clean-runs

$(STAMP): pyproject.toml
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	# torch/torchvision pinned to the releases the project is tested with (CUDA build, runs on CPU)
	$(VPY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(VPY) -m pip install -q -e ".[dev,cluster]"
	$(VPY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (paper-notebooks)" >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

reproduce: $(STAMP)
	$(VPY) -m paperlib run --profile default --jobs $(JOBS)

test: $(STAMP)
	$(VPY) -m pytest $(PYTEST_ARGS)

lab: $(STAMP)
	cd notebooks && ../$(VENV)/bin/jupyter lab

report: $(STAMP)
	$(VPY) -m paperlib report

list: $(STAMP)
	$(VPY) -m paperlib list

clean-runs:
	rm -rf runs
