"""The Dagster Definitions of the ICP engine (loaded by workspace.yaml, the CLI and the tests)."""

from dagster import AssetSelection, DefaultScheduleStatus, Definitions, ScheduleDefinition, define_asset_job, in_process_executor
from dagster_dbt import DbtCliResource

from dagster_project.checks import account_features_schema, published_tables_expectations
from dagster_project.dbt_assets import DBT_PROJECT, dbt_executable, icp_dbt_models
from dagster_project.ingest_assets import INGEST_ASSETS
from dagster_project.publish_asset import serving_publication
from dagster_project.scoring_assets import icp_model
from pipelines.config import load_config

# One process, one step at a time: DuckDB allows a single writer per database file.
icp_refresh = define_asset_job(
    "icp_refresh",
    selection=AssetSelection.all(),
    executor_def=in_process_executor,
    description="The whole refresh: ingest the landing files, build features with dbt, validate, learn the ICP, "
                "score and rank accounts, and publish the serving tables atomically.",
    tags={"dagster/max_concurrent_runs": 1},
)

_schedule_cfg = load_config().schedule
nightly_refresh = ScheduleDefinition(
    name="nightly_refresh",
    job=icp_refresh,
    cron_schedule=_schedule_cfg.cron,
    execution_timezone=_schedule_cfg.timezone,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Refresh the ICP every night (cron and timezone from icp.yaml `schedule`).",
)

defs = Definitions(
    assets=[*INGEST_ASSETS, icp_dbt_models, icp_model, serving_publication],
    asset_checks=[account_features_schema, published_tables_expectations],
    jobs=[icp_refresh],
    schedules=[nightly_refresh],
    resources={"dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())},
)
