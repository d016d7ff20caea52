"""The dbt project: docs build cleanly, models stay portable, and every dbt test is a Dagster asset check."""
from __future__ import annotations

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
    dbt = Path(sys.executable).with_name("dbt")
    return subprocess.run([str(dbt), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                           str(DBT_PROJECT_DIR), "--target-path", str(target)],
                          capture_output=True, text=True, env={**os.environ, **home.dbt_env})


def test_docs_generate_without_warnings(refreshed_home: Paths, tmp_path: Path) -> None:
    done = _dbt(refreshed_home, tmp_path / "target", "--warn-error", "docs", "generate")
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "target" / "catalog.json").exists()


def test_dbt_unit_tests_pass(refreshed_home: Paths, tmp_path: Path) -> None:
    """tenure, churn, net revenue retention, win rate, sales cycle and days to pay on hand-made rows."""
    done = _dbt(refreshed_home, tmp_path / "target", "test", "--select", "test_type:unit")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "PASS=4" in done.stdout


def test_dbt_models_are_assets_and_tests_are_checks() -> None:
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    models = {f"{p.parent.name}/{p.stem}" for p in (DBT_PROJECT_DIR / "models").rglob("*.sql")}
    assert models <= keys
    checks = {k.name for k in graph.asset_check_keys}
    assert "primary_key_stg_crm__accounts_account_id" in checks
    assert "accepted_values_account_features_lifecycle__customer__churned__prospect" in checks
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys() if k.path[0] in ("staging", "intermediate", "marts")}
    assert groups == {"staging", "intermediate", "marts"}


def test_dagster_loads_without_importing_dbt_core() -> None:
    """dagster-dbt is loaded without dbt-core's package (dagster_dbt_lib.py), which stays importable afterwards."""
    code = ("import sys; import dagster_project.definitions; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dbt', 'dbt_common'))); "
            "import dbt.version; print(dbt.version.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1].count(".") == 2


def test_refresh_job_leaves_out_the_dbt_tests_checked_again(refreshed_home: Paths, tmp_path: Path) -> None:
    """The refresh runs every dbt test but those on the views (staging: ingest enforces their rules on every row;
    intermediate: a repeated account would repeat its account_features row), on account_features (its pandera
    check has the same rules) and on the seeds (files of the project); they stay asset checks, and pass on the
    demo data."""
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    job_checks = {k.name for k in defs.resolve_job_def("icp_refresh").asset_layer.asset_graph.asset_check_keys}
    views = {k.name for k in graph.asset_check_keys if k.asset_key.path[0] in ("staging", "intermediate")
             and k.asset_key.path[1] != "int_reference_date"}
    features = {k.name for k in graph.asset_check_keys if k.asset_key.path == ["marts", "account_features"]}
    assert {"primary_key_stg_crm__accounts_account_id", "primary_key_int_account_sales_account_id"} <= views
    assert not views & job_checks
    assert "primary_key_account_features_account_id" in features and features & job_checks == {"account_features_schema"}
    seeds = {k.name for k in graph.asset_check_keys if k.asset_key.path[0] == "reference"}
    assert "not_null_country_regions_country_code" in seeds and not seeds & job_checks
    assert {"not_null_int_reference_date_as_of", "published_tables_expectations"} <= job_checks
    done = _dbt(refreshed_home, tmp_path / "target", "test", "--select", "config.materialized:view", "account_features",
                "resource_type:seed")
    assert done.returncode == 0, done.stdout[-3000:]
    left_out = len(views) + len(features) - 1 + len(seeds)
    assert int(re.search(r"PASS=(\d+)", done.stdout).group(1)) >= left_out and "ERROR=0" in done.stdout


def _dbt_events(proc) -> list[str]:
    import json

    out = proc.stdout.read().decode()
    assert proc.wait() == 0, out[-3000:]
    return [json.loads(line)["info"]["code"] for line in out.splitlines() if line.startswith("{")]


def test_unchanged_views_and_seeds_are_not_built_again(refreshed_home: Paths, tmp_path: Path) -> None:
    """A refresh builds the views and the seed only when the warehouse's may differ: a second refresh leaves them
    out; a changed var (icp.yaml) builds them all again, and so would a view missing from the warehouse."""
    import json
    import shutil

    import duckdb

    from dagster_project.dbt_assets import DBT_PROJECT
    from dagster_project.dbt_unchanged import leave_out
    from dagster_project.refresh import run_refresh

    home = tmp_path / "home"
    shutil.copytree(refreshed_home.home, home, symlinks=True)
    paths = Paths.resolve(home, refreshed_home.landing)
    manifest = Path(DBT_PROJECT.manifest_path)

    def built() -> set[str]:
        results = json.loads((paths.dbt_target / "run_results.json").read_text())["results"]
        return {r["unique_id"].split(".")[2] for r in results}

    assert run_refresh(paths).success
    assert built() == {"int_reference_date", "account_features", "not_null_int_reference_date_as_of"}
    config = tmp_path / "icp.yaml"
    config.write_text("scoring:\n  engagement_half_life_days: 45\n")
    assert run_refresh(paths, config=config).success
    assert {"stg_crm__accounts", "int_account_engagement", "country_regions", "account_features"} <= built()
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        view = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'int_account_engagement'").fetchone()[0]
    assert "/ 45" in view
    with paths.exported(config):
        assert leave_out(paths, manifest)
        with duckdb.connect(str(paths.warehouse)) as con:
            con.execute("DROP VIEW staging.stg_crm__contacts")
        assert not leave_out(paths, manifest)
