# The two commands a newcomer needs: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `run` needs the runtime dependencies only; `test` adds the test extras. Each is redone when
# pyproject.toml changes, and the test stamp after the runtime one (so `make run` after `make test` installs nothing).
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 8080
# `make run`'s configuration: written once (a fresh webhook secret, then kept), the database and outbox
# beside it in var/. POLICY_PUSH_* variables still override its keys.
DEMO_CONFIG ?= var/demo.toml
PP := $(BIN)/policy-push --config $(DEMO_CONFIG)

.PHONY: run test test-long venv db bench clean browser

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(TEST_STAMP): $(RUNTIME_STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

venv: $(RUNTIME_STAMP)

$(DEMO_CONFIG): | $(RUNTIME_STAMP)
	$(BIN)/policy-push config demo $(DEMO_CONFIG)

# `db upgrade` is the one command that creates the SQLite file: serve and every other command refuse
# a missing one (a mistyped path must not start a new, empty database), so `run` depends on this.
db: $(RUNTIME_STAMP) $(DEMO_CONFIG)
	$(PP) db upgrade

# On an empty database, a few hundred synthetic firms across the five jurisdictions (loaded the way
# received events are stored), so a first start shows real matches, notices and console pages.
# `serve --demo` ends with the console's address, how to create the first operator, the demo webhook
# secret, and whether SMS are held by quiet hours now (and until when).
run: db
	$(PP) synth --firms 300 --seed 1 --if-empty
	$(PP) serve --demo --host $(HOST) --port $(PORT)

# The console's browser test drives Debian's chromium (never a downloaded browser build), with a
# CJK font so the Chinese console renders in its screenshots.
BROWSER_PACKAGES := chromium fonts-wqy-zenhei
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null; \
	  else echo "chromium or the CJK font is missing and cannot be installed here (needs root): the browser test will be skipped"; fi; \
	fi

# `make test` runs everything but the long scale/crash tests (marker `long`); `make test-long` runs
# only those. CI runs both. A `-m` in PYTEST_ARGS replaces the one given here (pytest keeps the last).
test: $(TEST_STAMP) browser
	$(BIN)/python -m pytest -m "not long" $(PYTEST_ARGS)

test-long: $(TEST_STAMP) browser
	$(BIN)/python -m pytest -m long $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ingest.py --database postgres --fold-workers 1
	$(BIN)/python bench/sustained.py --fold-workers 0 1
	$(BIN)/python bench/backfill.py --firms 10000 100000
	$(BIN)/python bench/fold.py
	$(BIN)/python bench/match.py
	$(BIN)/python bench/deliver.py
	$(BIN)/python bench/deliver_worker.py
	$(BIN)/python bench/messages.py
	$(BIN)/python bench/shared_backfill.py --firms 10000

clean:
	rm -rf $(VENV) var build *.egg-info
