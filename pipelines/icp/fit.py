"""What the ICP models learn from and how they are fitted: training labels, supervised size bands, the two-part
fit scorecard, and the engagement score that sits beside the fit."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pipelines.config import Config
from pipelines.icp.attributes import Encoding, LevelCodes, supervised_edges
from pipelines.icp.labels import is_customer
from pipelines.icp.scorecard import Scorecard, combine, design, distinct_rows, fit_declared, fit_design


@dataclass
class TrainingLabels:
    """What the models learn from (each a Series over features' index; NaN = not in that training set).

    ideal: customers with enough tenure (or already a bad fit), 1 = ideal. win: accounts with a new-business
    decision, 1 = became a customer. segment: ideal customers against everyone with an outcome (customers that
    are not ideal, accounts that lost every deal) - who becomes an ideal customer, for the segment tree.
    """

    ideal: pd.Series
    win: pd.Series
    segment: pd.Series


def training_labels(features: pd.DataFrame, labels: pd.DataFrame, cfg: Config) -> TrainingLabels:
    """The training labels of `features` (today's accounts, or the accounts as they stood at the backtest's cutoff),
    from their customers' value `labels` (label_customers)."""
    ideal = pd.Series(np.nan, index=features.index)
    seasoned = features["tenure_months"].fillna(0) >= cfg.labels.min_tenure_months
    known = labels.index[seasoned.loc[labels.index] | labels["is_bad_fit"]]
    ideal.loc[known] = labels.loc[known, "is_ideal"].astype(float)
    bought = is_customer(features)
    lost_only = (features["won_deals"] == 0) & (features["lost_deals"] > 0) & ~bought
    win = pd.Series(np.nan, index=features.index)
    win[bought | (features["won_deals"] > 0)] = 1.0
    win[lost_only] = 0.0
    # 2 = ideal customer, 1 = other good customer, 0 = lost every deal or a bad fit.
    segment = pd.Series(np.nan, index=features.index)
    segment[bought] = 1.0
    segment.loc[known] = np.where(labels.loc[known, "is_ideal"], 2.0, 1.0)
    segment.loc[labels.index[labels["is_bad_fit"]]] = 0.0
    segment[lost_only] = 0.0
    return TrainingLabels(ideal, win, segment)


def supervised(enc: Encoding, features: pd.DataFrame, y: pd.Series, cfg: Config) -> Encoding:
    """Replace quantile bands by bands that separate ideal from other accounts, where labels allow."""
    labelled = y.notna()
    edges = {}
    for column, field_name in (("employee_count", "employee_edges"), ("annual_revenue", "revenue_edges")):
        learned = supervised_edges(features.loc[labelled, column].to_numpy(dtype=float),
                                   y[labelled].to_numpy(dtype=int), cfg.model.size_bins, cfg.model.seed)
        if learned:
            edges[field_name] = learned
    return replace(enc, **edges)


def choose_scorecard(codes: LevelCodes, y: TrainingLabels, enc: Encoding, cfg: Config, n_customers: int,
                      warnings: list[str]) -> Scorecard:
    both_classes = y.ideal.dropna().nunique() == 2
    enough = n_customers >= cfg.model.min_customers and both_classes
    if not enough and not cfg.declared_icp.is_empty:
        warnings.append(f"only {n_customers} customers (min_customers = {cfg.model.min_customers}): "
                        "scoring with the declared ICP from icp.yaml instead of a learned model")
        return fit_declared(cfg.declared_icp, enc)
    if not both_classes and y.win.dropna().nunique() < 2:
        warnings.append("no ideal and non-ideal accounts to learn from, and no declared ICP in icp.yaml: "
                        "every account gets the same fit score")
        return Scorecard("uniform", enc, pd.DataFrame(columns=["grp", "level", "raw"]), {}, 0.0)
    if not enough:
        warnings.append(f"only {n_customers} customers (min_customers = {cfg.model.min_customers}) and no "
                        "declared ICP in icp.yaml: the learned model rests on little data")
    return two_part(codes, y.ideal, y.win, enc, cfg)


def two_part(codes: LevelCodes, ideal: pd.Series, win: pd.Series, enc: Encoding, cfg: Config) -> Scorecard:
    """The fit scorecard: log-odds of winning the account plus log-odds of it turning out ideal once won.

    Their sum approximates the log of the chance that an account becomes an ideal customer; each part is a
    logistic regression on the same pre-sale attributes, so the points simply add up.
    """
    cards = [fit_learned_on(codes, y.dropna(), enc, cfg) for y in (win, ideal) if y.dropna().nunique() == 2]
    return combine(cards)


def fit_learned_on(codes: LevelCodes, y: pd.Series, enc: Encoding, cfg: Config) -> Scorecard:
    """Fit the learned scorecard on the labelled accounts `y` (indexed by position in account_id order)."""
    rows, labels, weight = distinct_rows(codes, enc, y.index.to_numpy(), y.to_numpy(dtype=int))
    return fit_design(design(codes, enc, rows), labels, enc, cfg.model.regularisation, weight)


def engagement_score(features: pd.DataFrame) -> pd.Series:
    """0..100 from decayed engagement points and open opportunities (each counts as 3 points); half of the way at
    about 3.5 points."""
    return 100 * (1 - np.exp(-(features["engagement_points"].fillna(0) + 3 * features["open_opportunities"].fillna(0))
                          / 5.0))
