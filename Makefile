# The two commands of the README: `make run` and `make test`. Each sets up everything it
# needs on a fresh machine: the virtual environment, the package, etcd, and the proto linter.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUF    := .tools/node_modules/.bin/buf
BUF_VERSION := 1.75.0
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint unit integration e2e generate etcd bench clean

run: $(STAMP) etcd
	$(BIN)/elizaos up --data-dir .elizaos --character examples/characters/eliza.json

test: $(STAMP) etcd $(BUF) lint
	$(BIN)/python -m pytest -q

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP) etcd
	$(BIN)/python -m pytest -q tests/integration

e2e: $(STAMP) etcd
	$(BIN)/python -m pytest -q tests/e2e

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy controlplane agenthost clients/python/elizaos

generate: $(STAMP)
	$(BIN)/python protos/generate.py

bench: $(STAMP) etcd
	$(BIN)/python bench/bench_foundation.py

$(STAMP): pyproject.toml examples/plugin-package/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# A third-party-style plugin package, found by entry point like any other.
	$(BIN)/pip install -q -e examples/plugin-package
	touch $(STAMP)

etcd:
	@command -v etcd >/dev/null 2>&1 || { \
	  echo "installing etcd (Debian package etcd-server)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq etcd-server >/dev/null; }

$(BUF):
	npm install --prefix .tools --no-save --no-audit --no-fund --silent @bufbuild/buf@$(BUF_VERSION)

clean:
	rm -rf $(VENV) .tools .elizaos .pytest_cache .mypy_cache .ruff_cache
