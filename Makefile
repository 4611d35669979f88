# graphdiff: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
PLUGINS := plugins/graphdiff-crystals plugins/graphdiff-molecules plugins/graphdiff-social plugins/graphdiff-traffic
PYTEST_ARGS ?=

.PHONY: install demo test test-all lint bench tables tables-check clean docs notebooks

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: this resolves to the CPU build; the rest then accept it.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[testing,graphs]" $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

install: $(STAMP)

# the `docs` extra: mkdocs (material, mkdocstrings, mkdocs-jupyter) and nbmake for the notebooks
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PIP) install -q -e ".[docs]"
	touch $(DOCS_STAMP)

demo: $(STAMP)
	$(PY) -m graphdiff_crystals.demo --out demo-output
	$(PY) -m graphdiff_molecules.demo --out demo-output --num 16 --steps 200

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# ruff: pyflakes and pycodestyle over the core, the plugins, the tests and the benchmarks
lint: $(STAMP)
	$(PY) -m ruff check .

test-all: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# README's benchmark table and the docs tables of figures, written from benchmarks/*/results
# (tables-check: exit 1, naming each figure and results file, where a table differs)
tables: $(STAMP)
	$(PY) benchmarks/tables.py

tables-check: $(STAMP)
	$(PY) benchmarks/tables.py --check

# execute every notebook of docs/examples, each in its own folder as working directory (they are
# stored without outputs; nbmake does not write outputs back); 300 s at most per cell
notebooks: $(DOCS_STAMP)
	@if ls docs/examples/*.ipynb >/dev/null 2>&1; then \
		echo "OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -p no:cacheprovider --nbmake --nbmake-timeout=300 docs/examples"; \
		OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -p no:cacheprovider --nbmake --nbmake-timeout=300 docs/examples; \
	else echo "no notebooks in docs/examples"; fi

# the documentation site, into site/; any warning fails the build
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) demo-output .pytest_cache site .cache
