"""Asset checks beyond dbt's tests: pandera on account_features, Great Expectations on what gets published.

Both are blocking: a failure stops the run before anything is published. Both run in the worker process
(pipelines/worker.py), where pandas, pandera and Great Expectations are loaded.
"""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from dagster_project.publish_asset import start_parquet_ahead
from dagster_project.scoring_assets import FEATURES_KEY, SCORING_TABLES, scoring_key
from pipelines import worker
from pipelines.paths import Paths


@asset_check(asset=FEATURES_KEY, blocking=True,
             description="pandera schema of account_features (schemas/account_features.py): types, ranges, "
                         "one row per account, bounded null shares. A failure stops scoring and publishing.")
def account_features_schema() -> AssetCheckResult:
    rows, failures = worker.call("pipelines.quality.check_account_features", Paths.resolve())
    return AssetCheckResult(
        passed=not failures,
        severity=AssetCheckSeverity.ERROR,
        description=("account_features breaks its pandera schema: " + "; ".join(failures)) if failures else None,
        metadata={"rows": rows, "failures": len(failures),
                  "failing_columns": ", ".join(sorted({f.split(':')[0] for f in failures})) or "none"},
    )


@asset_check(asset=scoring_key("target_accounts"), blocking=True,
             additional_deps=[scoring_key(t) for t in SCORING_TABLES if t != "target_accounts"],
             description="Great Expectations suites (schemas/expectations.py) on the tables about to be published: "
                         "ranks unique and dense, scores within 0..100, no active customer on the target list, "
                         "every segment_id known. Data Docs: <home>/reports/data_docs/index.html.")
def published_tables_expectations(context: AssetCheckExecutionContext) -> AssetCheckResult:
    paths = Paths.resolve()
    start_parquet_ahead(paths, context.run.run_id)  # DuckDB writes the publication's Parquet while GX works in pandas
    report = worker.call("pipelines.quality.check_published_tables", paths)
    return AssetCheckResult(
        passed=report.success,
        severity=AssetCheckSeverity.ERROR,
        description=None if report.success else "Great Expectations failed: " + "; ".join(report.failures),
        metadata={"expectations": report.evaluated, "failed": len(report.failures),
                  "data_docs": MetadataValue.path(str(report.docs_index or paths.reports / "data_docs"))},
    )
