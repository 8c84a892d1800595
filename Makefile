# The two commands a newcomer needs: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test test-long venv db bench clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# `db upgrade` is the one command that creates the SQLite file: serve and every other command refuse
# a missing one (a mistyped path must not start a new, empty database), so `run` depends on this.
db: $(STAMP)
	mkdir -p var
	$(BIN)/policy-push db upgrade

# On an empty database, a few hundred synthetic firms across the five jurisdictions (loaded the way
# received events are stored), so a first start shows real matches, notices and console pages.
run: db
	$(BIN)/policy-push synth --firms 300 --seed 1 --if-empty
	$(BIN)/policy-push serve --host $(HOST) --port $(PORT)

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
test: $(STAMP) browser
	$(BIN)/python -m pytest -m "not long" $(PYTEST_ARGS)

test-long: $(STAMP) browser
	$(BIN)/python -m pytest -m long $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py --database sqlite --database postgres
	$(BIN)/python bench/sustained.py
	$(BIN)/python bench/backfill.py --firms 10000 100000
	$(BIN)/python bench/fold.py
	$(BIN)/python bench/match.py
	$(BIN)/python bench/deliver.py

clean:
	rm -rf $(VENV) var build *.egg-info
