# Two commands on a fresh machine: `make run` (the main job) and `make test` (the test suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.orlvlmf-installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)
export MUJOCO_GL ?= egl
export LITELLM_LOCAL_MODEL_COST_MAP ?= True
export HF_HUB_OFFLINE ?= 1

.PHONY: setup system-deps run test test-all mutation clean

setup: $(STAMP)

# The label-gallery test opens the HTML page in a real headless browser (Debian's chromium).
system-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (headless browser for the gallery test)"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install it (e.g. sudo apt-get install chromium) for the gallery test"; fi; }

$(STAMP): pyproject.toml constraints.txt $(PLUGINS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,minari,baselines,real,ray]" $(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

run: setup
	$(VENV)/bin/orlvlmf fit --config configs/drawer.yaml

test: setup system-deps
	$(PY) -m pytest

test-all: setup system-deps
	$(PY) -m pytest -m "slow or not slow"

# Mutation testing of the core modules (on demand; not in CI or `make test`): which mutants the
# tests let through, per module. Config: [tool.mutmut] in pyproject.toml; details: `mutmut browse`.
mutation: setup
	rm -rf mutants
	nice -n 10 $(VENV)/bin/mutmut run --max-children 2 || true
	@$(VENV)/bin/mutmut results --all true | awk -F': ' '{ sub(/^ +/, "", $$1); sub(/\.[^.]*$$/, "", $$1); \
	  c[$$1 SUBSEP $$2]++; m[$$1] = 1 } END { for (k in m) { line = k ":"; \
	  for (s in c) { split(s, a, SUBSEP); if (a[1] == k) line = line "  " a[2] " " c[s] }; print line } }' \
	  | sort

clean:
	rm -rf $(VENV) runs .pytest_cache mutants
