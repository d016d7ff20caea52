"""The Dagster Definitions of the ICP engine (loaded by workspace.yaml, the CLI and the tests)."""
from dagster import Definitions, PipesSubprocessClient

from dagster_project.automation import (landing_files_sensor, nightly_refresh, refresh_failure_alert,
                                        refresh_warning_alert)
from dagster_project.checks import account_features_schema, published_tables_expectations
from dagster_project.dbt_assets import icp_dbt_models, icp_dbt_scoring
from dagster_project.dbt_settings import dbt_resource
from dagster_project.ingest_assets import ingest
from dagster_project.jobs import icp_refresh
from dagster_project.publish_asset import icp_report, serving_publication
from dagster_project.refresh_lock import RefreshLock
from dagster_project.scoring_assets import icp_evaluation, icp_fit

defs = Definitions(
    assets=[ingest, icp_dbt_models, icp_fit, icp_dbt_scoring, icp_evaluation, serving_publication, icp_report],
    asset_checks=[account_features_schema, published_tables_expectations],
    jobs=[icp_refresh],
    schedules=[nightly_refresh],
    sensors=[landing_files_sensor, refresh_failure_alert, refresh_warning_alert],
    resources={"dbt": dbt_resource(),
               "refresh_lock": RefreshLock(),
               "pipes_subprocess_client": PipesSubprocessClient()},
)
