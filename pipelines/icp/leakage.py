"""The leakage guard: pre-sale attributes that a CRM fills in only after the sale are left out of the fit.

Real exports often enrich an account when a deal is won (industry, size, revenue entered by the account team).
Then the attribute's presence alone separates customers from everyone else, and the model learns "unknown
industry never buys": every prospect lands in an anti-ICP segment and the target list empties. Before fitting,
each attribute's missing share is compared between customers, lost accounts and prospects; an attribute known
for nearly all customers but missing for nearly all other accounts is left out (icp.yaml can force it in or out).
"""
from __future__ import annotations

from dataclasses import replace

import duckdb
import pandas as pd

from pipelines.config import PRE_SALE_ATTRIBUTES, Leakage
from pipelines.icp.attributes import Encoding
from pipelines.sql import ident

CATEGORICAL = ("industry", "region", "lead_source")
MIN_CUSTOMERS_OF_A_LEVEL = 10  # a level seen among customers only is noted from this many customers on
# Attribute (account_features column) -> the Encoding field that holds its levels.
ATTRIBUTES = dict(zip(PRE_SALE_ATTRIBUTES, ("industries", "employee_edges", "revenue_edges", "regions",
                                            "lead_sources")))


def attribute_checks(con: duckdb.DuckDBPyConnection, population: str, rules: Leakage) -> pd.DataFrame:
    """One row per attribute: its missing share among customers, lost accounts (a lost deal, never won) and
    prospects, whether the fit uses it, and why (in words); for categories, the levels that occur among customers
    only (a value such as "existing customer" in a lead source is set by the sale, not before it). `population` is
    the SQL relation of the accounts (inputs.attribute_population): the shares are counted in the engine."""
    group = "CASE WHEN is_customer THEN 'customers' WHEN is_lost THEN 'lost' ELSE 'prospects' END"
    missing = ", ".join(f"avg(CAST({ident(c)} IS NULL AS INTEGER)) AS {ident(c)}" for c in ATTRIBUTES)
    shares = {row[0]: dict(zip(ATTRIBUTES, row[2:])) | {"n": row[1]} for row in con.execute(
        f"SELECT {group} AS grp, count(*), {missing} FROM {population} GROUP BY grp").fetchall()}
    others_n = sum(shares.get(g, {}).get("n", 0) for g in ("lost", "prospects"))
    rows = []
    for column in ATTRIBUTES:
        share = {g: shares[g][column] if g in shares else None for g in ("customers", "lost", "prospects")}
        others = (sum(shares[g][column] * shares[g]["n"] for g in ("lost", "prospects") if g in shares) / others_n
                  if others_n else None)
        leaks = (share["customers"] is not None and others is not None
                 and share["customers"] <= rules.customers_max_missing and others >= rules.others_min_missing)
        used = column in rules.force_in or (not leaks and column not in rules.force_out)
        why = ("forced out in icp.yaml (model.leakage.force_out)" if column in rules.force_out
               else "forced in in icp.yaml (model.leakage.force_in)" if column in rules.force_in and leaks
               else f"left out: known for {1 - share['customers']:.0%} of customers but missing for "
                    f"{others:.0%} of the other accounts, so its presence alone would tell customers apart "
                    "(probably filled in after the sale)" if leaks
               else "used")
        rows.append({"attribute": column, "missing_customers": share["customers"], "missing_lost": share["lost"],
                     "missing_prospects": share["prospects"], "used_in_fit": used, "verdict": why,
                     "customer_only_levels": _customer_only_levels(con, population, column)
                     if column in CATEGORICAL else None})
    return pd.DataFrame(rows)


def _customer_only_levels(con: duckdb.DuckDBPyConnection, population: str, column: str) -> str | None:
    """The levels of `column` held by at least MIN_CUSTOMERS_OF_A_LEVEL customers and by no other account, with
    their customer counts ("existing customer (40)"); None when there are none, or no customers or no others."""
    c = ident(column)
    found = con.execute(f"""
        WITH levels AS (
            SELECT {c} AS level, count(*) FILTER (WHERE is_customer) AS customers,
                   count(*) FILTER (WHERE NOT is_customer) AS others
            FROM {population} WHERE {c} IS NOT NULL GROUP BY {c})
        SELECT string_agg(level || ' (' || customers || ')', ', ' ORDER BY level) FROM levels
        WHERE customers >= {MIN_CUSTOMERS_OF_A_LEVEL} AND others = 0
          AND (SELECT bool_or(is_customer) AND bool_or(NOT is_customer) FROM {population} WHERE {c} IS NOT NULL)
        """).fetchone()[0]
    return found or None


def left_out(checks: pd.DataFrame) -> list[str]:
    """The attributes the fit does not use."""
    return checks.loc[~checks["used_in_fit"], "attribute"].tolist()


def without(enc: Encoding, attributes: list[str]) -> Encoding:
    """`enc` with the `attributes` reduced to a single level, so that the scorecard gives them no points."""
    return replace(enc, **{ATTRIBUTES[a]: () for a in attributes})


def warning(checks: pd.DataFrame) -> str | None:
    """Words for the attributes the guard left out (not those forced out in icp.yaml), with their missing shares;
    None when there are none."""
    leaked = checks[checks["verdict"].str.startswith("left out")]
    levels = checks[checks["customer_only_levels"].notna() & checks["used_in_fit"]]

    def share(v) -> str:
        return "n/a" if v is None or pd.isna(v) else f"{v:.0%}"

    said = []
    if not leaked.empty:
        parts = [f"{r.attribute} (missing for {share(r.missing_customers)} of customers, {share(r.missing_lost)} "
                 f"of lost accounts, {share(r.missing_prospects)} of prospects)" for r in leaked.itertuples()]
        said.append("attributes filled in after the sale were left out of the fit: " + "; ".join(parts)
                    + ". Their presence alone would separate customers from the rest. To use one anyway, list it "
                      "under model.leakage.force_in in icp.yaml.")
    if not levels.empty:
        parts = [f"{r.attribute} = {r.customer_only_levels}" for r in levels.itertuples()]
        said.append("values that occur among customers only, perhaps set by the sale: " + "; ".join(parts)
                    + ". The fit uses them; if they are set after the sale, list the attribute under "
                      "model.leakage.force_out in icp.yaml.")
    return " ".join(said) or None
