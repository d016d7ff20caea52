"""Learn the ICP from the accounts with an outcome and write the fitted model as tables.

The fit reads a bounded frame (pipelines/icp/inputs.py): the accounts with an outcome, sampled above
model.max_fit_accounts, and every customer's value columns. It learns the labels, the levels and bands, the leakage
guard's choices, the scorecard and the segments, and writes the published fit_scorecard, fit_attributes and
fit_attribute_checks (catalog `scoring`) and the tables dbt's scoring models read (schema `fit`,
pipelines/icp/fitted.py). Every step is deterministic (fixed seeds, hashed draws, stable sort orders).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pandas as pd
from threadpoolctl import threadpool_limits

from pipelines.config import Config
from pipelines.icp import backtest as bt
from pipelines.icp import leakage
from pipelines.icp.attributes import learn_encoding, level_codes
from pipelines.icp.fit import choose_scorecard, supervised, training_labels
from pipelines.icp.fitted import write_fitted
from pipelines.icp.inputs import (FIT_ACCOUNTS, attribute_population, choose_fit_accounts, read_customers,
                                  read_fit_accounts)
from pipelines.icp.labels import is_customer, label_customers
from pipelines.icp.scorecard import Scorecard, declared_size_rule, score, write_scorecard
from pipelines.icp.segments import segment_table
from pipelines.publish import write_scoring_table


@dataclass
class FitResult:
    """What one fit learned, for logs and Dagster metadata."""

    model_version: str
    model_kind: str
    n_outcomes: int      # accounts with an outcome
    n_fit_accounts: int  # of them, those the fit learned from (all, or a sample)
    n_customers: int
    n_ideal: int
    n_segments: int
    card: Scorecard      # the fitted scorecard (its tables are what dbt's scoring models read)
    warnings: list[str] = field(default_factory=list)


def fit_labels(labels: pd.DataFrame, accounts: pd.DataFrame) -> pd.DataFrame:
    """The customers' value `labels` (indexed by account_id) of the fit's `accounts`, indexed like them."""
    position = pd.Series(accounts.index, index=accounts["account_id"].to_numpy())
    mine = labels[labels.index.isin(position.index)]
    return mine.set_axis(position[mine.index].to_numpy())


# One thread per numeric library (OpenMP, BLAS) while fitting: scikit-learn's logistic fits take as long on both
# cores as on one, at twice the CPU.
@threadpool_limits.wrap(limits=1)
def fit_icp(con: duckdb.DuckDBPyConnection, cfg: Config, scored_at: datetime) -> FitResult:
    """Learn the ICP on `con` (the build database, after dbt's features) and write the fit tables."""
    warnings: list[str] = []
    n_outcomes = choose_fit_accounts(con, cfg.model.max_fit_accounts, cfg.model.seed)
    accounts = read_fit_accounts(con)
    all_labels = label_customers(read_customers(con), cfg)
    labels = fit_labels(all_labels, accounts)
    y = training_labels(accounts, labels, cfg)
    checks = leakage.attribute_checks(con, attribute_population(at_cutoff=False), cfg.model.leakage)
    left_out = leakage.left_out(checks)
    enc = leakage.without(supervised(learn_encoding(con, cfg.model.size_bins), accounts, y.segment, cfg), left_out)
    leak_warning = leakage.warning(checks)
    if leak_warning:
        warnings.append(leak_warning)
    con.register("__checks", checks)
    write_scoring_table(con, "fit_attribute_checks", "SELECT * FROM __checks", order_by="attribute")
    con.unregister("__checks")
    size = declared_size_rule(cfg.declared_icp)
    codes = level_codes(con, enc, size, FIT_ACCOUNTS)
    segments = segment_table(accounts, codes, y.segment, labels, enc, cfg, left_out)
    card = choose_scorecard(codes, y, enc, cfg, len(all_labels), warnings)
    customers = is_customer(accounts).to_numpy()
    fit = score(card, codes, cfg.scoring.scale, rows=customers.nonzero()[0])
    thresholds = bt.tier_thresholds(pd.Series(fit.fit_score), cfg.scoring.tier_shares)
    write_scorecard(con, card, fit.scale, cfg.declared_icp)
    write_fitted(con, card, fit.scale, size, segments, thresholds, all_labels, scored_at)
    return FitResult(card.version, card.kind, n_outcomes, len(accounts), len(all_labels),
                     int(all_labels["is_ideal"].sum()), len(segments.table), card, warnings)
