"""Asset checks beyond dbt's tests: the pandera contract of account_features (blocking)."""

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from dagster_project.scoring_assets import FEATURES_KEY
from pipelines.paths import Paths
from pipelines.warehouse import warehouse
from schemas.account_features import validate_account_features


@asset_check(asset=FEATURES_KEY, blocking=True,
             description="pandera schema of account_features (schemas/account_features.py): types, ranges, "
                         "one row per account, bounded null shares. A failure stops scoring and publishing.")
def account_features_schema() -> AssetCheckResult:
    with warehouse(Paths.resolve(), read_only=True) as con:
        frame = con.execute("SELECT * FROM marts.account_features").df()
    failures = validate_account_features(frame)
    return AssetCheckResult(
        passed=not failures,
        severity=AssetCheckSeverity.ERROR,
        description=("account_features breaks its pandera schema: " + "; ".join(failures)) if failures else None,
        metadata={"rows": len(frame), "failures": len(failures),
                  "failing_columns": ", ".join(sorted({f.split(':')[0] for f in failures})) or "none"},
    )
