"""Asset checks beyond dbt's tests: pandera on account_features, Great Expectations on what gets published.

Both are blocking: a failure stops the run before anything is published.
"""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from dagster_project.scoring_assets import FEATURES_KEY, scoring_key
from pipelines.quality import check_account_features, check_published_tables
from pipelines.paths import Paths


@asset_check(asset=FEATURES_KEY, blocking=True,
             description="pandera schema of account_features (schemas/account_features.py): types, ranges, "
                         "one row per account, bounded null shares. A failure stops scoring and publishing.")
def account_features_schema() -> AssetCheckResult:
    rows, failures = check_account_features(Paths.resolve())
    return AssetCheckResult(
        passed=not failures,
        severity=AssetCheckSeverity.ERROR,
        description=("account_features breaks its pandera schema: " + "; ".join(failures)) if failures else None,
        metadata={"rows": rows, "failures": len(failures),
                  "failing_columns": ", ".join(sorted({f.split(':')[0] for f in failures})) or "none"},
    )


@asset_check(asset=scoring_key("target_accounts"), blocking=True,
             additional_deps=[scoring_key("account_scores"), scoring_key("icp_segments")],
             description="Great Expectations suites (schemas/expectations.py) on the tables about to be published: "
                         "ranks unique and dense, scores within 0..100, no active customer on the target list, "
                         "every segment_id known. Data Docs: <home>/reports/data_docs/index.html.")
def published_tables_expectations(context: AssetCheckExecutionContext) -> AssetCheckResult:
    paths = Paths.resolve()
    report = check_published_tables(paths)
    return AssetCheckResult(
        passed=report.success,
        severity=AssetCheckSeverity.ERROR,
        description=None if report.success else "Great Expectations failed: " + "; ".join(report.failures),
        metadata={"expectations": report.evaluated, "failed": len(report.failures),
                  "data_docs": MetadataValue.path(str(report.docs_index or paths.reports / "data_docs"))},
    )
