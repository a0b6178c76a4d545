VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
ARGS ?=
PYTEST_ARGS ?=

.PHONY: test train docs venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -e ".[dev,docs,cluster]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pip install --no-deps --no-build-isolation -e . >/dev/null
	$(PY) -m pytest $(PYTEST_ARGS)

# the documentation site into build/site/ (mkdocs build --strict: a broken reference or docstring fails)
docs: $(STAMP)
	$(PY) -m pip install --no-deps --no-build-isolation -e . >/dev/null
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

train: $(STAMP)
	$(PY) -m pip install --no-deps --no-build-isolation -e . >/dev/null
	$(PY) train.py $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache build/site
