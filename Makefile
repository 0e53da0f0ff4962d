# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint install browser mailserver clean

run: $(INSTALLED)
	$(BIN)/omnihub demo
	$(BIN)/omnihub serve

# The lint runs first so that CI (.ci/run) fails on a formatting, lint or type error before the suite starts.
# The layer contract (import-linter) is checked by tests/test_layers.py.
# The suite runs in TEST_PROCESSES processes (pytest-xdist; at most 2, one per core), each with a Redis database of
# its own (TEST_REDIS_URL's and the next: 3 and 4 by default); the tests marked `serial` then run alone. Both passes
# run even when the first fails, so that a CI run reports every failure.
TEST_PROCESSES ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 2 ] && n=2; echo $$n)
test: $(INSTALLED) lint browser mailserver
	parallel=0; serial=0; \
	$(BIN)/pytest --durations=30 --numprocesses=$(TEST_PROCESSES) --dist=worksteal -m "not serial" || parallel=$$?; \
	$(BIN)/pytest --durations=5 -m serial || serial=$$?; \
	[ $$parallel -eq 0 ] && [ $$serial -eq 0 ]

lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Omnihub needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Debian's Chromium for the browser tests. Under CI it must install; elsewhere the browser
# tests say they are skipped when it cannot be installed (no root, no apt).
browser:
	@if [ "$${CI:-}" = "true" ]; then sh scripts/install-browser.sh; \
	else sh scripts/install-browser.sh || echo "Chromium not installed: the browser tests will be skipped"; fi

# Debian's Dovecot for the email tests (run unprivileged from a temporary directory, never as a service).
# Under CI it must install; elsewhere the IMAP tests say they are skipped when it cannot be installed.
mailserver:
	@if [ "$${CI:-}" = "true" ]; then sh scripts/install-dovecot.sh; \
	else sh scripts/install-dovecot.sh || echo "Dovecot not installed: the IMAP tests will be skipped"; fi

clean:
	rm -rf $(VENV) var .pytest_cache
