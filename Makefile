# `make demo` paints the bundled photo; `make test` runs the tests (the cluster's among them, so it also
# installs requirements-cluster.txt); `make lint` checks the code with ruff. Each sets up .venv on first use.
PYTHON ?= python3
VENV := .venv

.PHONY: demo test lint

demo: $(VENV)/.installed
	$(VENV)/bin/python style_transfer.py $(ARGS)

test: $(VENV)/.installed-dev
	$(VENV)/bin/python -m pytest -q tests $(ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements-cluster.txt $(VENV)/.installed
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt -r requirements-cluster.txt
	touch $@
