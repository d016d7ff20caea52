"""The refresh job: every asset, one step at a time in one process (DuckDB allows one writer per file)."""
from dagster import AssetKey, AssetSelection, define_asset_job, in_process_executor

from dagster_project.dagster_dbt_lib import get_manifest_and_translator_from_dbt_assets
from dagster_project.dbt_assets import icp_dbt_models
from dagster_project.scoring_assets import FEATURES_KEY

# Runs carrying this tag are limited to one at a time by the instance's run queue (see refresh.DAGSTER_YAML).
REFRESH_TAG = "icp/refresh"


def _dbt_keys(kind: str, materialized: str | None = None) -> list[AssetKey]:
    """The asset keys of the dbt nodes of this resource type (and materialization)."""
    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([icp_dbt_models])
    return [translator.get_asset_key(node) for node in manifest["nodes"].values()
            if node["resource_type"] == kind and materialized in (None, node["config"].get("materialized"))]


# dbt tests the refresh leaves out because the same run checks the same rules on every row anyway. They stay asset
# checks (run them from the Dagster UI, or with `dbt test`), and the test suite runs them on the demo data.
# - The tests of the views: a test of a view computes the view again (at a million accounts, an intermediate view
#   aggregates millions of rows). The staging tests re-check the landing contract (keys unique, required columns
#   present, allowed values), which ingest enforces: a row that breaks it is quarantined, never staged. The
#   intermediate ones check one row per account: account_features joins each of them to the accounts, so a
#   repeated account would repeat its row there, which its pandera check (below) stops.
# - The tests of account_features (one row per known account, lifecycle and key figures never null) are part of
#   its pandera schema, the blocking check that runs right after dbt. About 0.9 s at a million accounts.
# - The tests of the seeds (reference data shipped in dbt/seeds): they check the project's own files, which a refresh
#   does not change.
VIEW_CHECKS = AssetSelection.checks_for_assets(*_dbt_keys("model", "view"))
SEED_CHECKS = AssetSelection.checks_for_assets(*_dbt_keys("seed"))
FEATURES_DBT_CHECKS = AssetSelection.checks(*(k for k in icp_dbt_models.check_keys if k.asset_key == FEATURES_KEY))

icp_refresh = define_asset_job(
    "icp_refresh",
    selection=AssetSelection.all() - VIEW_CHECKS - SEED_CHECKS - FEATURES_DBT_CHECKS,
    executor_def=in_process_executor,
    description="The whole refresh: ingest the landing files, build features with dbt, validate, learn the ICP, "
                "score and rank accounts, and publish the serving tables atomically. The dbt tests of the views "
                "(staging and intermediate models) and of account_features are left to the UI and the test "
                "suite: ingest and the pandera check enforce the same rules on every row. So are those of the "
                "seeds, files of the project that a refresh does not change.",
    tags={REFRESH_TAG: "refresh"},
)
