"""pandera schema of the account_features mart: types, ranges, one row per account, bounded null shares.

Validated with pandera's Ibis backend on the table where it lies: every check runs as SQL in the engine, so that
no row is pulled into Python, at any number of accounts. Run as a blocking Dagster asset check: a failure stops
scoring and publishing and names the columns.
"""
from __future__ import annotations

import ibis
import pandera.ibis as pa
from pandera.api.ibis.types import IbisData

TEXT, NUMBER, COUNT, TIME = ibis.dtype("string"), ibis.dtype("float64"), ibis.dtype("int64"), ibis.dtype("timestamp(6)")


def _max_null_share(share: float) -> pa.Check:
    def check(data: IbisData):
        return data.table[data.key].isnull().cast("float64").mean() <= share

    return pa.Check(check, error=f"more than {share:.0%} of values are null")


def _text(*checks: pa.Check, nullable: bool = True, **kw) -> pa.Column:
    return pa.Column(TEXT, list(checks), nullable=nullable, **kw)


def _nonneg(dtype=NUMBER, nullable: bool = True) -> pa.Column:
    return pa.Column(dtype, pa.Check.ge(0), nullable=nullable)


def _share(nullable: bool = True) -> pa.Column:
    return pa.Column(NUMBER, pa.Check.in_range(0, 1), nullable=nullable)


def _thirty_within_ninety(data: IbisData):
    return data.table["activities_30d"] <= data.table["activities_90d"]


ACCOUNT_FEATURES = pa.DataFrameSchema(
    {
        "account_id": _text(nullable=False),  # unique: the schema's `unique` (the Ibis backend's columns have none)
        "account_name": _text(nullable=False),
        "created_at": pa.Column(TIME, nullable=False),
        "employee_count": _nonneg(COUNT),
        "annual_revenue": _nonneg(),
        "lifecycle": _text(pa.Check.isin(["prospect", "customer", "churned"]), nullable=False),
        "tenure_months": _nonneg(),
        "current_mrr": _nonneg(nullable=False),
        "current_arr": _nonneg(nullable=False),
        "lifetime_paid_revenue": pa.Column(NUMBER, nullable=False),
        "paid_share": _share(),
        "uncollectible_invoices": _nonneg(COUNT, nullable=False),
        "overdue_invoices": _nonneg(COUNT, nullable=False),
        "tickets_per_month": _nonneg(nullable=False),
        "urgent_share": _share(),
        "avg_csat": pa.Column(NUMBER, pa.Check.in_range(1, 5), nullable=True),
        "won_deals": _nonneg(COUNT, nullable=False),
        "lost_deals": _nonneg(COUNT, nullable=False),
        "win_rate": _share(),
        "avg_sales_cycle_days": pa.Column(NUMBER, nullable=True),
        "open_pipeline": _nonneg(nullable=False),
        "activities_30d": _nonneg(COUNT, nullable=False),
        "activities_90d": _nonneg(COUNT, nullable=False),
        "engagement_points": _nonneg(nullable=False),
        "contacts": _nonneg(COUNT, nullable=False),
        "as_of": pa.Column(TIME, nullable=False),
        # Firmographics may be sparse, but a column that is almost empty means an export went wrong.
        "industry": _text(_max_null_share(0.95)),
        "region": _text(_max_null_share(0.95)),
    },
    checks=[pa.Check(_thirty_within_ninety, error="activities_30d exceeds activities_90d")],
    unique=["account_id"],
    strict=False,
    name="account_features",
)


def _column(case) -> str:
    """The column a failure case is about: the Ibis backend reports a failing row as {column: value}."""
    return next(iter(case)) if isinstance(case, dict) and len(case) == 1 else ""


def validate_account_features(table: ibis.Table) -> list[str]:
    """Every failure of the Ibis `table` as '<column>: <check> (<n> rows, e.g. <values>)' (a check over several
    columns without a column); empty when the table is valid."""
    try:
        ACCOUNT_FEATURES.validate(table, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases.assign(column=[c if c != "failure_case" else _column(f)
                                     for c, f in zip(cases["column"], cases["failure_case"])])
        out = []
        for (column, check), grp in cases.groupby(["column", "check"], dropna=False, sort=True):
            rows = [case for case in grp["failure_case"] if isinstance(case, dict)]
            if check == "multiple_fields_uniqueness":  # reported as the query that finds the duplicates
                out.append("account_id: not unique (one row per account expected)")
            else:
                examples = ", ".join(str(v) for v in rows[:3])
                out.append(f"{column or 'account_features'}: {check} ({len(grp)} rows, e.g. {examples})")
        return out
    return []
