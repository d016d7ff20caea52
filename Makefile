# The README's commands. `make run` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MANIFEST := dbt/target/manifest.json
DBT_FILES := dbt/dbt_project.yml dbt/profiles.yml $(shell find dbt/models dbt/macros dbt/seeds dbt/tests -type f)
export ICP_HOME ?= $(CURDIR)/.icp
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup run test ui bench lock clean

setup: $(STAMP) $(MANIFEST)

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

test: setup
	$(BIN)/python -m pytest -q -n 2  # two workers: the refresh-heavy tests are mostly single-threaded

bench: setup
	$(BIN)/icp bench

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
