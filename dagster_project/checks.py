"""Asset checks beyond dbt's tests: pandera on account_features, Great Expectations on what gets published.

Both are blocking: a failure stops the run before anything is published.
"""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from dagster_project.publish_asset import start_parquet_ahead
from dagster_project.scoring_assets import FEATURES_KEY, SCORING_TABLES, scoring_key
from pipelines.paths import Paths
from pipelines.warehouse import frame, warehouse


@asset_check(asset=FEATURES_KEY, blocking=True,
             description="pandera schema of account_features (schemas/account_features.py): types, ranges, "
                         "one row per account, bounded null shares. A failure stops scoring and publishing.")
def account_features_schema() -> AssetCheckResult:
    from schemas.account_features import ACCOUNT_FEATURES, validate_account_features  # pandas: imported when run

    with warehouse(Paths.resolve(), read_only=True) as con:
        # Only the columns the schema checks are loaded into pandas.
        features = frame(con, f"SELECT {', '.join(ACCOUNT_FEATURES.columns)} FROM scoring.account_features",
                         arrow_strings=True)
    failures = validate_account_features(features)
    return AssetCheckResult(
        passed=not failures,
        severity=AssetCheckSeverity.ERROR,
        description=("account_features breaks its pandera schema: " + "; ".join(failures)) if failures else None,
        metadata={"rows": len(features), "failures": len(failures),
                  "failing_columns": ", ".join(sorted({f.split(':')[0] for f in failures})) or "none"},
    )


@asset_check(asset=scoring_key("target_accounts"), blocking=True,
             additional_deps=[scoring_key(t) for t in SCORING_TABLES if t != "target_accounts"],
             description="Great Expectations suites (schemas/expectations.py) on the tables about to be published: "
                         "ranks unique and dense, scores within 0..100, no active customer on the target list, "
                         "every segment_id known. Data Docs: <home>/reports/data_docs/index.html.")
def published_tables_expectations(context: AssetCheckExecutionContext) -> AssetCheckResult:
    from pipelines.quality import check_scoring_tables

    paths = Paths.resolve()
    start_parquet_ahead(paths, context.run.run_id)  # DuckDB writes the publication's Parquet while GX works in pandas
    with warehouse(paths, read_only=True) as con:
        report = check_scoring_tables(con, paths.reports / "data_docs")
    return AssetCheckResult(
        passed=report.success,
        severity=AssetCheckSeverity.ERROR,
        description=None if report.success else "Great Expectations failed: " + "; ".join(report.failures),
        metadata={"expectations": report.evaluated, "failed": len(report.failures),
                  "data_docs": MetadataValue.path(str(report.docs_index or paths.reports / "data_docs"))},
    )
