"""The dbt project as Dagster assets: every model an asset, every dbt test an asset check."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from pipelines.config import load_config
from pipelines.paths import DBT_PROJECT_DIR, Paths

OWNER = "team:data-engineering"
# dbt must not try to reach the network (usage statistics): the pipeline runs offline, and the attempt costs seconds.
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The dbt beside this Python (the project's venv), so that no activated shell is needed."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def _newest_source(project_dir: Path) -> float:
    files = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        files += [p for p in (project_dir / folder).rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in files if p.exists())


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """Parse the dbt project when its manifest is missing or older than any project file.

    `DbtProject.prepare_if_dev()` only runs under `dagster dev`; the CLI, tests and CI come through here.
    """
    manifest = Path(project.manifest_path)
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source(Path(project.project_dir)):
        cmd = [dbt_executable(), "parse", "--quiet", "--project-dir", str(project.project_dir),
               "--profiles-dir", str(project.profiles_dir), "--target-path", str(project.target_path)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{done.stdout}\n{done.stderr}")
    return manifest


class IcpDbtTranslator(DagsterDbtTranslator):
    """Sources map onto the ingest assets (raw/<table>); models are grouped by their folder (stage)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(["raw", dbt_resource_props["name"]])
        return AssetKey([dbt_resource_props["config"].get("schema") or "main", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "marts"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [OWNER]


def dbt_vars() -> dict[str, Any]:
    """dbt vars from icp.yaml, so that dbt and the scoring stage share one configuration."""
    cfg = load_config()
    return {"engagement_half_life_days": cfg.scoring.engagement_half_life_days,
            "engagement_window_days": cfg.scoring.engagement_window_days}


@dbt_assets(
    manifest=ensure_manifest(),
    project=DBT_PROJECT,
    dagster_dbt_translator=IcpDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def icp_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource):
    """Build the staging views, intermediate tables and the account_features mart, and run every dbt test."""
    paths = Paths.resolve()
    os.environ["ICP_WAREHOUSE"] = str(paths.warehouse)
    # dbt's unit tests check the SQL, not the data: they run in the test suite, not in every refresh.
    args = ["build", "--exclude-resource-type", "unit_test", "--vars", json.dumps(dbt_vars())]
    yield from dbt.cli(args, context=context,
                       target_path=paths.home / "dbt-target").stream()
