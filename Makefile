# Two entry points on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHECKED := src tests examples benchmarks scripts

.PHONY: install redis-server test check lint typecheck unit docs docs-serve demo cassettes contract bench \
	browser-check clean generate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The lock tests and the job-queue example run against a real redis-server, which the tests
# start on 127.0.0.1 themselves. Installed from the system's package registry when missing.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || scripts/install-redis-server

lint: install
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)

typecheck: install
	$(BIN)/mypy --strict src

unit: install redis-server
	$(BIN)/pytest -n auto

docs: install
	$(BIN)/python scripts/fetch_mermaid.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python scripts/check_reference.py site

test: lint typecheck unit docs

# The fast lane for day-to-day work: lint, types, and the unit and client tests (no simulator
# served over HTTP, no Redis), on every core. `make test` stays the whole suite.
check: lint typecheck
	$(BIN)/pytest -n auto -q tests/unit tests/client

docs-serve: install
	$(BIN)/python scripts/fetch_mermaid.py
	$(BIN)/mkdocs serve

# A real sync (plan, apply, sync again) against the bundled simulator on 127.0.0.1.
demo: install
	$(BIN)/python -m connectwise_billing demo

# Re-record the vcrpy cassettes against the simulator (served on 127.0.0.1).
cassettes: install
	$(BIN)/pytest tests/client/test_cassettes.py --record-mode=rewrite

# Write the async client's accessors from the sync ones, and the package's stub from its table of
# public names (tests/unit fails when either is stale).
generate: install
	$(BIN)/python scripts/gen_async_accessors.py
	$(BIN)/python scripts/gen_init_stub.py

# Regenerate the structural contract from the shared OpenAPI subset.
contract: install
	$(BIN)/python scripts/build_contract.py

bench: install
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

# The HTML report in a real browser: headless Chromium renders the reports of simulator runs,
# at desktop and phone width, and fails on any console message, blocked request or fetch; its
# screenshots go to build/browser-check (`scripts/browser_check.py --screenshot
# docs/images/html-report.png` replaces the guide's picture). Chromium is installed from the
# system's package registry when missing (or set CHROMIUM to a Chromium or Chrome binary). Not
# part of `make test`.
browser-check: install
	@[ -n "$${CHROMIUM:-}" ] || scripts/install-chromium
	$(BIN)/python scripts/browser_check.py

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache .hypothesis
