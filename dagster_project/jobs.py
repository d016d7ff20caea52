"""The refresh job: every asset and every asset check (each dbt test among them), one step at a time in one
process (DuckDB allows one writer per file)."""
from dagster import AssetSelection, define_asset_job, in_process_executor

# Runs carrying this tag are limited to one at a time by the instance's run queue (see refresh.DAGSTER_YAML).
REFRESH_TAG = "icp/refresh"

icp_refresh = define_asset_job(
    "icp_refresh",
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="The whole refresh: ingest the landing files, build features with dbt and run every dbt test, "
                "validate, learn the ICP, score and rank accounts, and publish the serving tables atomically.",
    tags={REFRESH_TAG: "refresh"},
)
