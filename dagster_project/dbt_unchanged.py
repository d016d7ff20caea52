"""The dbt views and seeds a refresh need not build again: those in the warehouse are what the project would make.

A refresh rebuilt 14 views and a seed whose definitions rarely change: at a million accounts, 1.4 s of dbt before
account_features could start (0.6 s of the step, 0.9 cpu-s). They are left out of `dbt build` while the project's
files, its vars (from icp.yaml) and dbt's version are those of the last full build (a stamp in the home's dbt
target folder), and the warehouse still holds every one of them; any difference builds them all again.
"""
from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import duckdb

from dagster_project.dbt_settings import dbt_vars
from pipelines.paths import DBT_PROJECT_DIR, Paths

STAMP = "views-and-seeds-built.json"
LEAVE_OUT = ["--exclude", "config.materialized:view resource_type:seed"]  # one value: dagster-dbt moves the flag


def project_mtime(project_dir: Path = DBT_PROJECT_DIR) -> float:
    """The newest modification time of the dbt project's files."""
    files = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        files += [p for p in (project_dir / folder).rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in files if p.exists())


def _stamp() -> dict:
    return {"project": project_mtime(), "vars": dbt_vars(), "dbt": importlib.metadata.version("dbt-core")}


def leave_out(paths: Paths, manifest: Path) -> list[str]:
    """dbt arguments that leave the views and seeds out of this build when they need no rebuild; else none."""
    try:
        built = json.loads((paths.dbt_target / STAMP).read_text())
    except (OSError, ValueError):
        return []
    return LEAVE_OUT if built == _stamp() and _in_warehouse(paths, manifest) else []


def record_full_build(paths: Paths) -> None:
    """Note that a build made every view and seed of the project as it is now (call after it succeeded)."""
    (paths.dbt_target / STAMP).write_text(json.dumps(_stamp()))


def _in_warehouse(paths: Paths, manifest: Path) -> bool:
    nodes = json.loads(manifest.read_text())["nodes"].values()
    wanted = {(n["schema"], n["alias"]) for n in nodes
              if n["resource_type"] == "seed" or n["config"].get("materialized") == "view"}
    try:
        with duckdb.connect(str(paths.warehouse), read_only=True) as con:
            have = set(con.execute("SELECT schema_name, view_name FROM duckdb_views() UNION ALL "
                                   "SELECT schema_name, table_name FROM duckdb_tables()").fetchall())
    except duckdb.Error:
        return False
    return wanted <= have
