"""The refresh job: every asset, one step at a time in one process (DuckDB allows one writer per file)."""
from dagster import AssetSelection, define_asset_job, in_process_executor

from dagster_project.dbt_assets import icp_dbt_models
from dagster_project.scoring_assets import FEATURES_KEY

# Runs carrying this tag are limited to one at a time by the instance's run queue (see refresh.DAGSTER_YAML).
REFRESH_TAG = "icp/refresh"

# dbt tests the refresh leaves out because the same run checks the same rules on every row anyway. They stay asset
# checks (run them from the Dagster UI, or with `dbt test`), and the test suite runs them on the demo data.
# - The tests of the staging views re-check the landing contract (keys unique, required columns present, allowed
#   values), which ingest enforces: a row that breaks it is quarantined, never staged. About 2.5 s at a million
#   accounts.
# - The tests of account_features (one row per known account, lifecycle and key figures never null) are part of
#   its pandera schema, the blocking check that runs right after dbt. About 0.9 s at a million accounts.
STAGING_CHECKS = AssetSelection.checks_for_assets(*(k for k in icp_dbt_models.keys if k.path[0] == "staging"))
FEATURES_DBT_CHECKS = AssetSelection.checks(*(k for k in icp_dbt_models.check_keys if k.asset_key == FEATURES_KEY))

icp_refresh = define_asset_job(
    "icp_refresh",
    selection=AssetSelection.all() - STAGING_CHECKS - FEATURES_DBT_CHECKS,
    executor_def=in_process_executor,
    description="The whole refresh: ingest the landing files, build features with dbt, validate, learn the ICP, "
                "score and rank accounts, and publish the serving tables atomically. The dbt tests of the staging "
                "views and of account_features are left to the UI and the test suite: ingest and the pandera "
                "check enforce the same rules on every row.",
    tags={REFRESH_TAG: "refresh"},
)
