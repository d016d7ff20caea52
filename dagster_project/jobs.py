"""The refresh job: every asset, one step at a time in one process (DuckDB allows one writer per file)."""
from dagster import AssetSelection, define_asset_job, in_process_executor

from dagster_project.dbt_assets import icp_dbt_models

# Runs carrying this tag are limited to one at a time by the instance's run queue (see refresh.DAGSTER_YAML).
REFRESH_TAG = "icp/refresh"

# The dbt tests of the staging views re-check the landing contract (keys unique, required columns present, allowed
# values), which ingest enforces on every row of every refresh: a row that breaks it is quarantined, never staged.
# At a million accounts they cost about 2.5 s of each refresh. They stay asset checks (run them from the Dagster UI,
# or `dbt build`), and the test suite runs them on the demo data.
STAGING_CHECKS = AssetSelection.checks_for_assets(*(k for k in icp_dbt_models.keys if k.path[0] == "staging"))

icp_refresh = define_asset_job(
    "icp_refresh",
    selection=AssetSelection.all() - STAGING_CHECKS,
    executor_def=in_process_executor,
    description="The whole refresh: ingest the landing files, build features with dbt, validate, learn the ICP, "
                "score and rank accounts, and publish the serving tables atomically. The dbt tests of the staging "
                "views are left to the UI and the test suite: ingest enforces the same rules on every row.",
    tags={REFRESH_TAG: "refresh"},
)
