"""The dbt project as Dagster assets: every model an asset, every dbt test an asset check."""

import fcntl
import importlib.metadata
import json
import os
import subprocess
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Sequence

from dagster import AssetExecutionContext, AssetKey
from packaging import version

from dagster_project.dagster_dbt_lib import (DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource,
                                             DbtProject, dbt_assets)
from dagster_project.dbt_settings import dbt_executable, dbt_vars
from dagster_project.dbt_unchanged import leave_out, project_mtime, record_full_build
from dagster_project.refresh_lock import RefreshLock
from dagster_project.scoring_assets import FEATURES_KEY
from pipelines.paths import DBT_PROJECT_DIR, Paths
from pipelines.publish import start_scoring_file

OWNER = "team:data-engineering"
DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class IcpDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without the start-up costs of every run (dagster-dbt is pinned):
    - the dbt version comes from this environment instead of a `dbt --version` subprocess (2.3 s);
    - no dbt adapter is opened inside Dagster's process (1.5 s; it only serves row-count and column metadata,
      which this project does not fetch; the dbt subprocess has its own).
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def _manifest_is_fresh(manifest: Path, project_dir: Path) -> bool:
    return manifest.exists() and manifest.stat().st_mtime >= project_mtime(project_dir)


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """Parse the dbt project when its manifest is missing or older than any project file.

    `DbtProject.prepare_if_dev()` only runs under `dagster dev`; the CLI, tests and CI come through here.
    Several processes may start at once (test workers, the UI beside a refresh): they take turns on a lock
    file, and the manifest is parsed into a private folder and moved into place, so no reader ever sees
    half of it.
    """
    manifest, project_dir = Path(project.manifest_path), Path(project.project_dir)
    if _manifest_is_fresh(manifest, project_dir):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with open(manifest.parent / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _manifest_is_fresh(manifest, project_dir):
            with tempfile.TemporaryDirectory(dir=manifest.parent, prefix=".parse-") as scratch:
                cmd = [dbt_executable(), "parse", "--quiet", "--project-dir", str(project_dir),
                       "--profiles-dir", str(project.profiles_dir), "--target-path", scratch]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    raise RuntimeError(f"dbt parse failed:\n{done.stdout}\n{done.stderr}")
                os.replace(Path(scratch) / "manifest.json", manifest)
    return manifest


class IcpDbtTranslator(DagsterDbtTranslator):
    """Sources map onto the ingest assets (raw/<table>); models are grouped by their folder (stage)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(["raw", dbt_resource_props["name"]])
        if dbt_resource_props["resource_type"] == "seed":
            return AssetKey([dbt_resource_props["config"].get("schema") or "main", dbt_resource_props["name"]])
        # A model by its folder (staging, intermediate, marts): the marts are in the scoring file's main schema.
        return AssetKey([self.get_group_name(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "marts"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [OWNER]


@dbt_assets(
    manifest=ensure_manifest(),
    project=DBT_PROJECT,
    dagster_dbt_translator=IcpDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def icp_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, refresh_lock: RefreshLock):
    """Build the staging views (when changed), intermediate tables and the account_features mart, and run the
    refresh's dbt test."""
    paths = Paths.resolve()
    os.environ.update(paths.dbt_env)
    if FEATURES_KEY in context.selected_asset_keys:
        start_scoring_file(paths)  # a new file for account_features and the scoring tables, with the live history
    # dbt's unit tests check the SQL, not the data: they run in the test suite, not in every refresh. Views and
    # seeds are built only when they changed (dbt_unchanged.py).
    unchanged = leave_out(paths, Path(DBT_PROJECT.manifest_path))
    # dbt's log file at info level (one line per node): its debug level logs every SQL statement.
    args = ["build", "--log-level-file", "info", "--exclude-resource-type", "unit_test", "--vars",
            json.dumps(dbt_vars()), *unchanged]
    yield from dbt.cli(args, context=context,
                       target_path=paths.dbt_target).stream()
    if not unchanged and context.selected_asset_keys == context.assets_def.keys:  # every model and seed built
        record_full_build(paths)
