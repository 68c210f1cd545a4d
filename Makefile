# `make demo` paints the bundled photo; `make serve` starts the studio, a page in the browser (docs/studio.md);
# `make test` runs the tests (the cluster's and the studio's among them, so it also installs
# requirements-cluster.txt and requirements-studio.txt); `make lint` checks the code with ruff. Each sets up
# .venv on first use.
PYTHON ?= python3
VENV := .venv

.PHONY: demo serve test lint

demo: $(VENV)/.installed
	$(VENV)/bin/python style_transfer.py $(ARGS)

serve: $(VENV)/.installed-studio
	$(VENV)/bin/python style_transfer.py --serve $(ARGS)

test: $(VENV)/.installed-dev
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile tests $(ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-studio: requirements-studio.txt $(VENV)/.installed
	$(VENV)/bin/python -m pip install --quiet -r requirements-studio.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements-cluster.txt $(VENV)/.installed-studio
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt -r requirements-cluster.txt
	touch $@
