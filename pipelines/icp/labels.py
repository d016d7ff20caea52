"""Realised value of customers (value_index 0..100) and the ideal / bad-fit labels drawn from it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.config import Config


def is_customer(features: pd.DataFrame) -> pd.Series:
    """Accounts that bought: active customers and churned ones."""
    return features["lifecycle"].isin(["customer", "churned"])


def has_billing(accounts: pd.DataFrame) -> bool:
    """Whether the company's data has billing (invoices or subscriptions); without it, won deals stand for revenue."""
    return bool((accounts["invoices"] > 0).any() or (accounts["subscriptions"] > 0).any())


def _rank(values: pd.Series) -> pd.Series:
    """Percentile rank in 0..1 (ties share their average rank); 0.5 when every value is the same."""
    if values.nunique(dropna=True) <= 1:
        return pd.Series(0.5, index=values.index)
    return values.rank(pct=True, method="average").fillna(0.0)


def value_components(customers: pd.DataFrame) -> pd.DataFrame:
    """The value components (each 0..1, higher is better) of customers and churned accounts, each a rate or per month
    of tenure, never a total that grows with age: a customer of six months can be as valuable as one of six years.

    revenue_per_month: paid invoices per month of tenure (at least one month); without billing data, the first
    deals' amount. current_arr: 12 x MRR running now. retention: 1 while active; a churned account scores the
    share of 24 months it stayed, halved. expansion: MRR added after the first subscription (annualised) plus won
    expansion deals per year of tenure. payment_health: paid share less 0.25 per uncollectible invoice.
    cost_to_serve: fewer tickets a month per 1,000 USD of MRR. A component with no information in this data set
    (e.g. no support tickets anywhere) is left out.
    """
    c = customers
    billing = has_billing(c)
    months = np.maximum(c["tenure_months"].fillna(0.0), 1.0)
    revenue = c["lifetime_paid_revenue"] / months if billing else c["won_amount"] - c["expansion_won_amount"]
    arr = c["current_arr"] if billing else c["won_amount"] - c["expansion_won_amount"]
    churned = c["is_churned"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    stayed = np.minimum(c["months_to_churn"].fillna(0.0) / 24.0, 1.0) * 0.5
    retention = np.where(churned, stayed, 1.0)
    expansion = c["expansion_revenue"].fillna(0) + c["expansion_won_amount"].fillna(0) * 12 / np.maximum(months, 12)
    paid_share = c["paid_share"].fillna(1.0)
    payment = np.clip(paid_share - 0.25 * c["uncollectible_invoices"].fillna(0), 0, 1)
    mrr_k = np.maximum(c["current_mrr"].fillna(0), c["mrr_12m_ago"].fillna(0)) / 1000.0
    load = c["tickets_per_month"].fillna(0) / np.maximum(mrr_k, 0.1)
    comps = pd.DataFrame({
        "revenue_per_month": _rank(revenue),
        "current_arr": _rank(arr),
        "retention": pd.Series(retention, index=c.index),
        "expansion": _rank(expansion) if (expansion > 0).any() else np.nan,
        "payment_health": pd.Series(payment, index=c.index) if (c["invoices"] > 0).any() else np.nan,
        "cost_to_serve": 1.0 - _rank(load) if (c["tickets"] > 0).any() else np.nan,
    }, index=c.index)
    return comps


def value_index(customers: pd.DataFrame, config: Config) -> pd.Series:
    """value_index 0..100: the weighted mean of the available value components."""
    comps = value_components(customers)
    weights = pd.Series(config.value_weights.model_dump())
    available = comps.columns[comps.notna().any()]
    w = weights[available]
    if w.sum() <= 0:
        return pd.Series(50.0, index=customers.index)
    return (comps[available].fillna(0.0) * w).sum(axis=1) / w.sum() * 100.0


def label_customers(customers: pd.DataFrame, config: Config) -> pd.DataFrame:
    """value_index, is_ideal and is_bad_fit (with its reason) for customers and churned accounts.

    is_ideal: value_index in the top `labels.ideal_share` of customers with at least `min_tenure_months`.
    is_bad_fit: churned within `early_churn_months`, support load above `max_tickets_per_1k_mrr`,
    or payment trouble (paid share below `min_paid_share`, or more uncollectible invoices than allowed).
    """
    lab = config.labels
    c = customers
    out = pd.DataFrame(index=c.index)
    out["value_index"] = value_index(c, config).round(2)
    seasoned = c["tenure_months"].fillna(0) >= lab.min_tenure_months
    if seasoned.sum() == 0:
        seasoned = pd.Series(True, index=c.index)
    cut = out.loc[seasoned, "value_index"].quantile(1 - lab.ideal_share)
    out["is_ideal"] = seasoned & (out["value_index"] >= cut) & (out["value_index"] > 0)
    mrr_k = np.maximum(c["current_mrr"].fillna(0), c["mrr_12m_ago"].fillna(0)) / 1000.0
    churned = c["is_churned"].astype("boolean").fillna(False).astype(bool)
    early_churn = churned & (c["months_to_churn"].fillna(np.inf) < lab.early_churn_months)
    heavy_support = (c["tickets_per_month"].fillna(0) / np.maximum(mrr_k, 0.1)) > lab.max_tickets_per_1k_mrr
    payment_trouble = (c["paid_share"].fillna(1.0) < lab.min_paid_share) | (
        c["uncollectible_invoices"].fillna(0) > lab.max_uncollectible)
    out["bad_fit_reason"] = np.select(
        [early_churn, heavy_support, payment_trouble],
        ["early churn", "heavy support for its revenue", "payment trouble"], default=None)
    out["is_bad_fit"] = out["bad_fit_reason"].notna()
    out.loc[out["is_bad_fit"], "is_ideal"] = False
    return out
