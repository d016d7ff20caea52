"""pandera schema of the account_features mart: types, ranges, one row per account, bounded null shares.

Run as a blocking Dagster asset check: a failure stops scoring and publishing and names the columns.
"""
from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera import Check


# Text columns are checked as Arrow strings (pipelines.warehouse.frame(arrow_strings=True)): their type is one
# dtype check instead of a look at a million Python objects; object columns are converted first.
TEXT = pd.StringDtype("pyarrow")


def _text(*checks: Check, nullable: bool = True, **kw) -> pa.Column:
    return pa.Column(TEXT, *checks, nullable=nullable, coerce=True, **kw)


def _max_null_share(share: float) -> Check:
    return Check(lambda s: s.isna().mean() <= share, element_wise=False,
                 error=f"more than {share:.0%} of values are null")


def _nonneg(nullable: bool = True, **kw) -> pa.Column:
    return pa.Column(float, Check.ge(0), nullable=nullable, coerce=True, **kw)


def _share(nullable: bool = True) -> pa.Column:
    return pa.Column(float, Check.in_range(0, 1), nullable=nullable, coerce=True)


ACCOUNT_FEATURES = pa.DataFrameSchema(
    {
        "account_id": _text(nullable=False, unique=True),
        "account_name": _text(nullable=False),
        "created_at": pa.Column("datetime64[ns]", nullable=False, coerce=True),
        "employee_count": _nonneg(),
        "annual_revenue": _nonneg(),
        "lifecycle": _text(Check.isin(["prospect", "customer", "churned"]), nullable=False),
        "tenure_months": pa.Column(float, Check.ge(0), nullable=True, coerce=True),
        "current_mrr": _nonneg(nullable=False),
        "current_arr": _nonneg(nullable=False),
        "lifetime_paid_revenue": pa.Column(float, nullable=False, coerce=True),
        "paid_share": _share(),
        "uncollectible_invoices": _nonneg(nullable=False),
        "overdue_invoices": _nonneg(nullable=False),
        "tickets_per_month": _nonneg(nullable=False),
        "urgent_share": _share(),
        "avg_csat": pa.Column(float, Check.in_range(1, 5), nullable=True, coerce=True),
        "won_deals": _nonneg(nullable=False),
        "lost_deals": _nonneg(nullable=False),
        "win_rate": _share(),
        "avg_sales_cycle_days": pa.Column(float, nullable=True, coerce=True),
        "open_pipeline": _nonneg(nullable=False),
        "activities_30d": _nonneg(nullable=False),
        "activities_90d": _nonneg(nullable=False),
        "engagement_points": _nonneg(nullable=False),
        "contacts": _nonneg(nullable=False),
        "as_of": pa.Column("datetime64[ns]", nullable=False, coerce=True),
        # Firmographics may be sparse, but a column that is almost empty means an export went wrong.
        "industry": _text(_max_null_share(0.95)),
        "region": _text(_max_null_share(0.95)),
    },
    checks=[Check(lambda df: (df["activities_30d"] <= df["activities_90d"]).all(), element_wise=False,
                  error="activities_30d exceeds activities_90d")],
    strict=False,
    name="account_features",
)


def validate_account_features(frame: pd.DataFrame) -> list[str]:
    """Every failure as '<column>: <check> (<n> rows, e.g. <values>)'; empty when the frame is valid."""
    try:
        ACCOUNT_FEATURES.validate(frame, lazy=True, inplace=True)  # no copy of a million rows
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        out = []
        for (column, check), grp in cases.groupby(["column", "check"], dropna=False, sort=True):
            examples = ", ".join(str(v) for v in grp["failure_case"].head(3))
            out.append(f"{column}: {check} ({len(grp)} rows, e.g. {examples})")
        return out
    return []
