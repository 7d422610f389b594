# Two commands on a fresh machine: `make run` (the main job) and `make test` (the test suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.orlvlmf-installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)
export MUJOCO_GL ?= egl
export LITELLM_LOCAL_MODEL_COST_MAP ?= True
export HF_HUB_OFFLINE ?= 1

.PHONY: setup run test test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(PLUGINS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,minari]" $(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

run: setup
	$(VENV)/bin/orlvlmf fit --config configs/drawer.yaml

test: setup
	$(PY) -m pytest

test-all: setup
	$(PY) -m pytest -m "slow or not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
