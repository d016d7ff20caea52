# The README's commands. `make run` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MANIFEST := dbt/target/manifest.json
DBT_FILES := dbt/dbt_project.yml dbt/profiles.yml $(shell find dbt/models dbt/macros dbt/seeds dbt/tests -type f)
export ICP_HOME ?= $(CURDIR)/.icp
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup run test ui bench lock clean java

setup: $(STAMP) $(MANIFEST)
	@$(MAKE) --no-print-directory java || echo "(only --engine spark needs Java; the default engine, DuckDB, does not)"

# Spark (`--engine spark`, and its tests) runs on Java 17 or newer.
java:
	@v=$$("$${JAVA_HOME:+$$JAVA_HOME/bin/}java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then \
	  echo "Spark needs Java 17 or newer; found: $${v:-no java on PATH}. Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17) or set JAVA_HOME." >&2; exit 1; fi

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# The dbt project's manifest, which Dagster reads to know the models and tests (parsed again when dbt/ changes).
$(MANIFEST): $(STAMP) $(DBT_FILES)
	$(BIN)/icp prepare

run: setup
	$(BIN)/icp run

test: setup java
	$(BIN)/python -m pytest -q -n 2  # two workers: the refresh-heavy tests are mostly single-threaded

# e.g. make bench BENCH_ARGS="--engine spark --sizes 1000000"
bench: setup
	$(BIN)/icp bench $(BENCH_ARGS)

ui: setup
	DAGSTER_HOME=$(ICP_HOME)/dagster $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# Re-resolve the pinned environment from pyproject.toml's ranges (needs the package index).
lock:
	rm -rf /tmp/icp-lock && $(PYTHON) -m venv /tmp/icp-lock
	/tmp/icp-lock/bin/pip install --quiet .
	/tmp/icp-lock/bin/pip freeze --exclude icp-engine > requirements.lock
	printf "# build tools for the editable install of this project (pip freeze omits them)\nsetuptools==84.2.1\nwheel==0.48.0\n" >> requirements.lock

clean:
	rm -rf $(VENV) $(ICP_HOME) dbt/target dbt/logs
