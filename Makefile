# Developer entry points. GNU make; every recipe runs in bash with strict flags.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstalls when pyproject.toml (dependencies, extras, entry points) changes.
STAMP := $(VENV)/.installed-stamp
CHROMIUM := /usr/bin/chromium

.PHONY: help venv run test system-deps lint bench clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

$(STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

venv: $(STAMP) ## create .venv and install the project with its test tools

run: $(STAMP) ## serve (one process, in-memory broker, SQLite under ./data); WORKSHOP_* variables override
	WORKSHOP_WORKERS="$${WORKSHOP_WORKERS:-1}" \
	WORKSHOP_BROKER="$${WORKSHOP_BROKER:-memory}" \
	WORKSHOP_DATA_DIR="$${WORKSHOP_DATA_DIR:-./data}" \
	exec $(BIN)/python -m workshop_server

system-deps: ## install redis-server and chromium when missing (as root), else explain
	@missing=(); \
	command -v redis-server >/dev/null 2>&1 || missing+=(redis-server); \
	[ -x $(CHROMIUM) ] || missing+=(chromium); \
	if (( $${#missing[@]} )); then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $${missing[*]}"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$${missing[@]}" \
	      || echo "warning: could not install $${missing[*]}; the tests that need them will say so"; \
	  else \
	    echo "note: $${missing[*]} missing and not root: the tests that need them will be skipped" \
	         "(or fail under CI=true); install with: sudo apt-get install $${missing[*]}"; \
	  fi; \
	fi

test: $(STAMP) system-deps ## run the test suite (PYTEST_ARGS='-k broker -x' to narrow it)
	PYTHONASYNCIODEBUG=1 $(BIN)/python -W error -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/mypy --strict workshop_server

bench: $(STAMP) ## run the benchmarks (BENCH_ARGS passes options through)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean: ## remove caches and build leftovers (keeps .venv and data/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info tests/artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
