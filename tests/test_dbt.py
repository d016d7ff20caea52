"""The dbt project: docs build cleanly, models stay portable, and every dbt test is a Dagster asset check."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.paths import DBT_PROJECT_DIR, Paths

DUCKDB_ONLY = {
    "cast with ::": re.compile(r"::"),
    "QUALIFY": re.compile(r"\bqualify\b", re.I),
    "GROUP BY ALL": re.compile(r"group\s+by\s+all\b", re.I),
    "SELECT * EXCLUDE": re.compile(r"\bexclude\s*\(", re.I),
    "list lambda": re.compile(r"->|\blambda\b", re.I),
    "read_csv": re.compile(r"\bread_(csv|parquet|json)", re.I),
}


@pytest.mark.parametrize("model", sorted((DBT_PROJECT_DIR / "models").rglob("*.sql")), ids=lambda p: p.stem)
def test_models_use_portable_sql(model: Path) -> None:
    sql = re.sub(r"\{#.*?#\}", "", model.read_text(), flags=re.S)  # comments may mention anything
    found = [name for name, pattern in DUCKDB_ONLY.items() if pattern.search(sql)]
    assert not found, f"{model.name} uses DuckDB-only syntax: {found}"


def test_every_model_and_column_is_documented() -> None:
    import yaml

    for sql in (DBT_PROJECT_DIR / "models").rglob("*.sql"):
        doc = yaml.safe_load(sql.with_suffix(".yml").read_text())
        model = doc["models"][0]
        assert model["name"] == sql.stem and model["description"]
        assert all(c.get("description") for c in model["columns"]), sql.stem


def _dbt(home: Paths, target: Path, *args: str) -> subprocess.CompletedProcess:
    from dagster_project.dbt_settings import dbt_vars

    dbt = Path(sys.executable).with_name("dbt")
    return subprocess.run([str(dbt), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                           str(DBT_PROJECT_DIR), "--target-path", str(target), "--vars", json.dumps(dbt_vars())],
                          capture_output=True, text=True, env={**os.environ, **home.dbt_env})


def test_docs_generate_without_warnings(refreshed_home: Paths, tmp_path: Path) -> None:
    done = _dbt(refreshed_home, tmp_path / "target", "--warn-error", "docs", "generate")
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "target" / "catalog.json").exists()


def test_dbt_unit_tests_pass(refreshed_home: Paths, tmp_path: Path) -> None:
    """tenure, churn, net revenue retention, win rate, sales cycle and days to pay on hand-made rows, and what a
    snapshot at the backtest's cutoff knows."""
    done = _dbt(refreshed_home, tmp_path / "target", "test", "--select", "test_type:unit")
    assert done.returncode == 0, done.stdout[-3000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    assert sorted(r["status"] for r in results if r["unique_id"].startswith("unit_test.")) == ["pass"] * 6


def test_dbt_models_are_assets_and_tests_are_checks() -> None:
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    folder = DBT_PROJECT_DIR / "models"
    models = {f"{p.relative_to(folder).parts[0]}/{p.stem}" for p in folder.rglob("*.sql")}  # stage/model
    assert models <= keys
    checks = {k.name for k in graph.asset_check_keys}
    assert "primary_key_stg_crm__accounts_account_id" in checks
    assert "accepted_values_account_features_lifecycle__customer__churned__prospect" in checks
    stages = ("staging", "intermediate", "marts", "scoring")
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys() if k.path[0] in stages}
    assert groups == set(stages)


def test_a_refresh_executes_every_asset_check(refreshed_home: Paths) -> None:
    """The refresh job runs `dbt build`: every dbt test (on the views, the seed and account_features too) and the
    pandera and Great Expectations checks have an execution after one refresh, and all passed on the demo data."""
    from dagster import DagsterEventType, DagsterInstance

    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    every_check = {k.name for k in graph.asset_check_keys}
    assert {"primary_key_stg_crm__accounts_account_id", "not_null_country_regions_country_code",
            "primary_key_account_features_account_id", "account_features_schema",
            "published_tables_expectations"} <= every_check
    with DagsterInstance.from_config(str(refreshed_home.dagster_home)) as instance:
        evaluations = [e.dagster_event.event_specific_data for run in instance.get_runs()
                       for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)]
    assert {ev.check_name for ev in evaluations} == every_check
    assert all(ev.passed for ev in evaluations), [ev.check_name for ev in evaluations if not ev.passed]
