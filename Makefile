# graphdiff: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PLUGINS := plugins/graphdiff-crystals plugins/graphdiff-molecules plugins/graphdiff-social plugins/graphdiff-traffic
PYTEST_ARGS ?=

.PHONY: install demo test test-all bench clean

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: this resolves to the CPU build; the rest then accept it.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[testing,graphs]" $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m graphdiff_crystals.demo --out demo-output
	$(PY) -m graphdiff_molecules.demo --out demo-output --num 16

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) demo-output .pytest_cache
