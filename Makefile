# kpybroker: every target installs what it needs into .venv on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-stamp
SHARED ?= ../shared
BOOTSTRAP ?=
PYTEST_ARGS ?=
# Extra broker flags for `make run`, e.g. ARGS="--override num.partitions=3".
ARGS ?=

.PHONY: all venv clients run test unit compat bench generate check-generated lint api-table clean

all: venv

$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e . -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# Stock clients outside PyPI that tests/clients drives: kafkajs (npm), kcat (Debian) and
# the Java client (below).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
KAFKAJS := tests/clients/kafkajs
$(KAFKAJS)/node_modules/.package-lock.json: $(KAFKAJS)/package-lock.json
	command -v npm >/dev/null || $(SUDO) sh -c 'apt-get update && apt-get install -y nodejs npm'
	cd $(KAFKAJS) && npm ci --no-audit --no-fund --loglevel=error

# Apache Kafka's Java client: a JDK (Debian) and the kafka-clients jars (see the tool).
JAVA_LIB := tests/clients/java/lib
$(JAVA_LIB)/.fetched: tools/fetch_java_client.py $(STAMP)
	command -v javac >/dev/null || $(SUDO) sh -c 'apt-get update && apt-get install -y default-jdk-headless'
	$(PY) tools/fetch_java_client.py --pip $(PIP)

clients: $(KAFKAJS)/node_modules/.package-lock.json $(JAVA_LIB)/.fetched
	command -v kcat >/dev/null || command -v kafkacat >/dev/null || \
		$(SUDO) sh -c 'apt-get update && apt-get install -y kcat'

run: venv
	$(PY) -m kpybroker config/server.properties $(ARGS)

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

# Without BOOTSTRAP the suite starts (and stops) a fresh kpybroker itself.
compat: venv
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) compat-tests $(if $(BOOTSTRAP),--bootstrap=$(BOOTSTRAP),)

test: venv clients check-generated
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests compat-tests

bench: venv
	$(PY) bench/run.py

# The supported-API table in README.md, from the dispatch table.
api-table: venv
	$(PY) tools/api_table.py

lint: venv
	$(VENV)/bin/ruff check wire storage replication kpybroker tools tests compat-tests bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
