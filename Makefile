# Developer entry points. GNU make; every recipe runs in bash with strict flags.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstalls when pyproject.toml (dependencies, extras, entry points) or the pinned versions change.
STAMP := $(VENV)/.installed-stamp
# The versions CI tested, pinned by `make lock`; every install (the venv, the Docker image) uses them.
CONSTRAINTS := constraints.txt
PIP := $(BIN)/python -m pip --disable-pip-version-check
CHROMIUM := /usr/bin/chromium
# axe-core for the accessibility tests (tests/web/axe.py): a test dependency from the npm registry, pinned
# by tests/web/package-lock.json; reinstalled with `npm ci` when the lock changes.
WEB_TEST_DEPS := tests/web/node_modules/.installed-stamp

.PHONY: help venv lock run test test-long screenshots system-deps web-test-deps lint bench clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@if [ ! -x $(BIN)/python ]; then $(PYTHON) -m venv $(VENV); fi
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[test]'
	@touch $@

venv: $(STAMP) ## create .venv and install the project with its test tools, at the pinned versions

# Without the pins, so that a new or raised requirement in pyproject.toml resolves; versions that still
# satisfy pyproject.toml stay. LOCK_ARGS=--upgrade moves everything to the newest allowed versions.
lock: ## pin the venv's versions in constraints.txt (after changing dependencies; LOCK_ARGS=--upgrade)
	@if [ ! -x $(BIN)/python ]; then $(PYTHON) -m venv $(VENV); fi
	$(PIP) install --quiet $(LOCK_ARGS) -e '.[test]'
	{ echo "# The versions CI tested: pip freeze of .venv without the project, written by 'make lock'."; \
	  echo "# Used as pip constraints by 'make venv' and the Dockerfile. Do not edit by hand."; \
	  $(PIP) freeze --exclude-editable --exclude workshop-server; } > $(CONSTRAINTS).tmp
	mv $(CONSTRAINTS).tmp $(CONSTRAINTS)
	@touch $(STAMP)

run: $(STAMP) ## serve (one process, in-memory broker, SQLite under ./data); WORKSHOP_* variables override
	WORKSHOP_WORKERS="$${WORKSHOP_WORKERS:-1}" \
	WORKSHOP_BROKER="$${WORKSHOP_BROKER:-memory}" \
	WORKSHOP_DATA_DIR="$${WORKSHOP_DATA_DIR:-./data}" \
	exec $(BIN)/python -m workshop_server

# docker-compose (Debian's 1.29, no engine needed) lets tests/test_packaging.py validate docker-compose.yml;
# npm installs axe-core for the accessibility tests.
system-deps: ## install redis-server, chromium and docker-compose when missing (as root), else explain
	@missing=(); \
	command -v redis-server >/dev/null 2>&1 || missing+=(redis-server); \
	[ -x $(CHROMIUM) ] || missing+=(chromium); \
	command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose); \
	command -v npm >/dev/null 2>&1 || missing+=(npm); \
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

# Order-only on system-deps (which may install npm): it never makes the stamp out of date by itself.
$(WEB_TEST_DEPS): tests/web/package.json tests/web/package-lock.json | system-deps
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests/web --no-audit --no-fund && touch $@ \
	    || echo "warning: npm ci --prefix tests/web failed; the accessibility tests will say so"; \
	else \
	  echo "note: npm is missing: the accessibility tests (tests/web/test_a11y.py) will be skipped" \
	       "(or fail under CI=true); install it with: sudo apt-get install npm"; \
	fi

web-test-deps: $(WEB_TEST_DEPS) ## install the pinned test-only npm packages (axe-core) into tests/web/node_modules

# Test processes (pytest-xdist): three on the 2-core CI machine, because many tests wait (on real
# servers, timers, Redis, the browser) and a third process fills the cores meanwhile: 438 s against 520 s
# with two, measured side by side (four: 446-482 s, more contention). The tests spread to whichever is
# free (worksteal). TEST_WORKERS=0 runs them in this one process (for -x, --pdb or a clean traceback).
TEST_WORKERS ?= 3
# Bytecode caches (the git-ignored __pycache__/) are written even where PYTHONDONTWRITEBYTECODE is set, as
# on this machine: the suite starts some 220 server processes, and each compiled every module of the server
# again (0.11 s of CPU each), and each test process rewrote every test module (4.6 s).
PYTEST := PYTHONDONTWRITEBYTECODE= PYTHONASYNCIODEBUG=1 $(BIN)/python -W error -m pytest -q -n $(TEST_WORKERS) --dist worksteal

test: $(STAMP) system-deps $(WEB_TEST_DEPS) ## run the test suite (PYTEST_ARGS='-k broker -x' to narrow it)
	$(PYTEST) $(PYTEST_ARGS)

test-long: $(STAMP) system-deps $(WEB_TEST_DEPS) ## the suite with the soak loops at full count (the crash loop: 200 kills)
	WORKSHOP_TEST_LONG=1 $(PYTEST) $(PYTEST_ARGS)

screenshots: $(STAMP) system-deps $(WEB_TEST_DEPS) ## the browser tests, saving a screenshot of every view under tests/artifacts/
	WORKSHOP_TEST_SCREENSHOTS=1 $(PYTEST) tests/web $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/mypy --strict workshop_server

bench: $(STAMP) ## run the benchmarks (BENCH_ARGS passes options through)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean: ## remove caches and build leftovers (keeps .venv and data/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info tests/artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean ## also remove .venv and tests/web/node_modules
	rm -rf $(VENV) tests/web/node_modules
