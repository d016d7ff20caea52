"""The leakage guard: pre-sale attributes that a CRM fills in only after the sale are left out of the fit.

Real exports often enrich an account when a deal is won (industry, size, revenue entered by the account team).
Then the attribute's presence alone separates customers from everyone else, and the model learns "unknown
industry never buys": every prospect lands in an anti-ICP segment and the target list empties. Before fitting,
each attribute's missing share is compared between customers, lost accounts and prospects; an attribute known
for nearly all customers but missing for nearly all other accounts is left out (icp.yaml can force it in or out).
"""
from __future__ import annotations

from dataclasses import replace

import pandas as pd

from pipelines.config import PRE_SALE_ATTRIBUTES, Leakage
from pipelines.icp.attributes import Encoding
from pipelines.icp.labels import is_customer

CATEGORICAL = ("industry", "region", "lead_source")
MIN_CUSTOMERS_OF_A_LEVEL = 10  # a level seen among customers only is noted from this many customers on
# Attribute (account_features column) -> the Encoding field that holds its levels.
ATTRIBUTES = dict(zip(PRE_SALE_ATTRIBUTES, ("industries", "employee_edges", "revenue_edges", "regions",
                                            "lead_sources")))


def attribute_checks(features: pd.DataFrame, rules: Leakage) -> pd.DataFrame:
    """One row per attribute: its missing share among customers, lost accounts (a lost deal, never won) and
    prospects, whether the fit uses it, and why (in words); for categories, the levels that occur among customers
    only (a value such as "existing customer" in a lead source is set by the sale, not before it)."""
    customer = is_customer(features)
    lost = ~customer & (features["lost_deals"].fillna(0) > 0)
    prospect = ~customer & ~lost
    rows = []
    for column in ATTRIBUTES:
        missing = features[column].isna()
        shares = {g: float(missing[m].mean()) if m.any() else None
                  for g, m in (("customers", customer), ("lost", lost), ("prospects", prospect))}
        others = float(missing[~customer].mean()) if (~customer).any() else None
        leaks = (shares["customers"] is not None and others is not None
                 and shares["customers"] <= rules.customers_max_missing and others >= rules.others_min_missing)
        used = column in rules.force_in or (not leaks and column not in rules.force_out)
        why = ("forced out in icp.yaml (model.leakage.force_out)" if column in rules.force_out
               else "forced in in icp.yaml (model.leakage.force_in)" if column in rules.force_in and leaks
               else f"left out: known for {1 - shares['customers']:.0%} of customers but missing for "
                    f"{others:.0%} of the other accounts, so its presence alone would tell customers apart "
                    "(probably filled in after the sale)" if leaks
               else "used")
        rows.append({"attribute": column, "missing_customers": shares["customers"], "missing_lost": shares["lost"],
                     "missing_prospects": shares["prospects"], "used_in_fit": used, "verdict": why,
                     "customer_only_levels": _customer_only_levels(features[column], customer)
                     if column in CATEGORICAL else None})
    return pd.DataFrame(rows)


def _customer_only_levels(values: pd.Series, customer: pd.Series) -> str | None:
    """The levels of `values` held by at least MIN_CUSTOMERS_OF_A_LEVEL customers and by no other account, with
    their customer counts ("existing customer (40)"); None when there are none."""
    counts = pd.crosstab(values, customer)
    if True not in counts or False not in counts:
        return None
    only = counts[(counts[True] >= MIN_CUSTOMERS_OF_A_LEVEL) & (counts[False] == 0)][True]
    return ", ".join(f"{level} ({n})" for level, n in only.sort_index().items()) or None


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
