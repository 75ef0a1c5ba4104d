# kpybroker: every target installs what it needs into .venv on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-stamp
SHARED ?= ../shared
BOOTSTRAP ?=
PYTEST_ARGS ?=

.PHONY: all venv run test unit compat bench generate check-generated lint clean

all: venv

$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e . -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(PY) -m kpybroker config/server.properties

generate: venv
	$(PY) tools/generate_wire.py --shared $(SHARED)

# Regenerate and fail if anything checked in changed.
check-generated: venv
	@if [ -d $(SHARED)/kafka-protocol ]; then \
		$(PY) tools/generate_wire.py --shared $(SHARED) && \
		git diff --exit-code --stat -- wire/messages wire/schema wire/api_keys.py || \
		{ echo "generated code is stale: run 'make generate' and commit"; exit 1; }; \
	else echo "no $(SHARED)/kafka-protocol: skipping the regeneration check"; fi

unit: venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

compat: venv
	$(PY) -m pytest -q compat-tests $(if $(BOOTSTRAP),--bootstrap=$(BOOTSTRAP),)

test: venv check-generated
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests compat-tests

bench: venv
	$(PY) bench/run.py

lint: venv
	$(VENV)/bin/ruff check wire storage replication kpybroker tools tests compat-tests bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
