VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# the project installed (editable) with its runtime dependencies only; one stamp per pyproject.toml
BASE := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
ARGS ?=
PYTEST_ARGS ?=

.PHONY: test train docs venv clean
# keep the extras' stamps that `make extra-<name>` reaches through a pattern (make would delete them)
.PRECIOUS: $(BASE)-%

venv: $(BASE)

$(BASE): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -e .
	rm -f $(VENV)/.installed-*
	touch $(BASE)

# one optional extra of pyproject.toml on top of the base install (stamp <base>-<extra>, dropped with
# the base stamp when pyproject.toml changes): dev (pytest), docs (mkdocs), cluster (submitit), ...
$(BASE)-%: $(BASE)
	$(PY) -m pip install -e ".[$*]"
	touch $@

# an extra on request, e.g. `make extra-cluster` before a SLURM sweep
extra-%: $(BASE)-%
	@true

# lint (ruff: errors, import order, formatting) first; the tests exercise the docs extension (griffe) and the
# submitit launcher too
test: $(BASE)-dev $(BASE)-docs $(BASE)-cluster
	$(PY) -m pip install --no-deps --no-build-isolation -e . >/dev/null
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

# the documentation site into build/site/ (mkdocs build --strict: a broken reference or docstring fails)
docs: $(BASE)-docs
	$(PY) -m pip install --no-deps --no-build-isolation -e . >/dev/null
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# training needs the runtime dependencies only
train: $(BASE)
	$(PY) -m pip install --no-deps --no-build-isolation -e . >/dev/null
	$(PY) train.py $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache build/site
