"""The strictly point-in-time backtest: the model as it would have been learned at the cutoff, and how it did.

Everything the cutoff-time model learns comes from dbt's account_state_at_cutoff (each account as it stood
model.backtest_months before as_of): the value labels, the levels, bands and leakage checks (from the accounts that
existed then), the scorecard and the segments. It then ranks the accounts that were not customers at the cutoff
(prospects then, or created since: the model would have scored them as they arrived) as the target list would
have (anti-ICP segments and icp.yaml's exclusions left out, priority with engagement as of the cutoff), and is
judged on their decisions after it (pipelines/icp/backtest.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from pipelines.config import Config
from pipelines.icp import backtest as bt
from pipelines.icp import leakage
from pipelines.icp.attributes import Encoding, Level, LevelCodes, learn_encoding, level_codes
from pipelines.icp.fit import TrainingLabels, engagement_score, supervised, training_labels, two_part
from pipelines.icp.inputs import FIT_ACCOUNTS, attribute_population, existed_at_cutoff, read_state_at_cutoff
from pipelines.icp.labels import has_billing, is_customer, label_customers
from pipelines.icp.scorecard import Scorecard, fit_declared, score
from pipelines.icp.segments import segment_table


# What the backtest reads of the accounts at the cutoff once their labels are made: the segments' inputs, the
# lifecycle and the engagement (the value columns are let go).
PAST_COLUMNS = ["industry", "employee_count", "annual_revenue", "region", "lead_source", "lifecycle", "won_deals",
                "lost_deals", "is_churned", "engagement_points", "open_opportunities", "held_out"]


@dataclass(frozen=True)
class CutoffWorld:
    """The accounts as known at the cutoff, what the cutoff-time model learns from, and the test accounts'
    outcomes (arrays and frames over the fit's accounts, in account_id order)."""

    cutoff: pd.Timestamp
    past: pd.DataFrame       # read_state_at_cutoff's frame, the columns the backtest still reads (PAST_COLUMNS)
    labels: pd.DataFrame     # label_customers of the cutoff's customers
    y: TrainingLabels
    encoding: Encoding
    codes: LevelCodes
    left_out: list[str]      # attributes the leakage guard left out at the cutoff
    test: np.ndarray         # not a customer at the cutoff (a prospect, or created since), decided after it
    outcomes: bt.Outcomes    # of the test accounts, in order


def cutoff_world(con: duckdb.DuckDBPyConnection, features: pd.DataFrame, ideal_now: pd.Series, cfg: Config,
                 declared_size: Level | None) -> CutoffWorld:
    """Read the fit's accounts (`features`, today's state: inputs.read_fit_accounts) at the cutoff from the build
    database and learn, from them alone, what the model learns without a fit: labels, levels and bands, the
    leakage guard's choices (levels and the guard from every account that existed then). `features` and
    `ideal_now` (today's TrainingLabels.ideal) give only the test accounts' outcomes. Every account the backtest
    trains or tests on had an outcome by today: the fit's accounts hold them all."""
    cutoff, past = read_state_at_cutoff(con, features)
    customers = is_customer(past)
    labels = label_customers(past[customers], cfg)
    y = training_labels(past, labels, cfg)
    left_out = leakage.left_out(leakage.attribute_checks(con, attribute_population(at_cutoff=True),
                                                         cfg.model.leakage))
    learned = learn_encoding(con, cfg.model.size_bins, existed_at_cutoff())
    enc = leakage.without(supervised(learned, past, y.segment, cfg), left_out)
    codes = level_codes(con, enc, declared_size, FIT_ACCOUNTS)
    won_now = (is_customer(features) | (features["won_deals"] > 0)).to_numpy()
    decided_after = won_now | (pd.to_datetime(features["last_closed_at"]) > cutoff).to_numpy()
    test = ~customers.to_numpy() & decided_after
    return CutoffWorld(cutoff, past[PAST_COLUMNS], labels, y, enc, codes, left_out, test,
                       _outcomes(features, ideal_now, test, won_now))


def _outcomes(features: pd.DataFrame, ideal: pd.Series, test: np.ndarray, won_now: np.ndarray) -> bt.Outcomes:
    """The test accounts' outcomes by as_of: won; valuable (today's `ideal`: 1 or 0 for customers old enough to
    judge or already a bad fit, NaN for younger ones; 0 when not won); new revenue (paid invoices, else won
    deals)."""
    rows = np.flatnonzero(test)
    won = won_now[rows]
    column = "lifetime_paid_revenue" if has_billing(features) else "won_amount"
    revenue = features[column].fillna(0).to_numpy(dtype=float)
    return bt.Outcomes(won=won, valuable=np.where(won, ideal.to_numpy()[rows], 0.0),
                       revenue=np.where(won, revenue[rows], 0.0))


def run_backtest(world: CutoffWorld, kind: str, cfg: Config, not_excluded: np.ndarray, warnings: list[str]
                 ) -> tuple[bt.BacktestResult, bt.BacktestResult | None]:
    """Learn the same `kind` of model as today's card at the cutoff and evaluate it; also the declared ICP beside a learned
    model (None otherwise). Warnings (skipped, noisy, no better than chance) are appended to `warnings`."""
    train = world.y.segment.notna().to_numpy()
    skipped = bt.BacktestResult(cutoff=world.cutoff, n_train=int(train.sum()), n_test=int(world.test.sum()),
                                n_positive=int(world.outcomes.won.sum()))
    learnable = world.y.win.dropna().nunique() == 2 or world.y.ideal.dropna().nunique() == 2
    if (world.y.segment[train].nunique() < 2 or not world.test.any() or kind == "uniform"
            or (kind == "learned" and not learnable)):
        warnings.append(f"backtest skipped: {skipped.n_train} labelled accounts before {world.cutoff:%Y-%m-%d} "
                        f"and {skipped.n_test} decided after it")
        return skipped, None
    cutoff_card = (two_part(world.codes, world.y.ideal, world.y.win, world.encoding, cfg) if kind == "learned"
                   else fit_declared(cfg.declared_icp, world.encoding))
    segments = segment_table(world.past, world.codes, world.y.segment, world.labels, world.encoding, cfg,
                             world.left_out)
    seg = segments.table
    listable = not_excluded & ~np.isin(segments.leaves, seg.index[seg["kind"] == "anti_icp"])
    result = _evaluate(world, cutoff_card, listable, cfg)
    declared = None
    if not cfg.declared_icp.is_empty and kind == "learned":
        declared = _evaluate(world, fit_declared(cfg.declared_icp, world.encoding), listable, cfg)
    if result.n_positive < cfg.model.min_backtest_positives:
        warnings.append(f"backtest has only {result.n_positive} conversions after {world.cutoff:%Y-%m-%d}: "
                        "its figures are noisy")
    chance = bt.chance_warning(result, cfg.model.chance_auc, cfg.model.confidence)
    if chance:
        warnings.append(chance)
    return result, declared


def _evaluate(world: CutoffWorld, card: Scorecard, listable: np.ndarray, cfg: Config) -> bt.BacktestResult:
    """Score the training and test accounts with the cutoff-time `card`; tiers from the training customers'
    scores; the list's order from priority at the cutoff, the accounts it would have left out (not `listable`)
    last."""
    train = world.y.segment.notna().to_numpy()
    rows = np.flatnonzero(train | world.test)
    scores = score(card, world.codes, cfg.scoring.scale, rows)
    fit, probability = np.full(len(train), np.nan), np.full(len(train), np.nan)
    fit[rows], probability[rows] = scores.fit_score, scores.probability
    trained_customers = train & is_customer(world.past).to_numpy()
    thresholds = bt.tier_thresholds(pd.Series(fit[trained_customers]), cfg.scoring.tier_shares)
    t, w = world.test, cfg.scoring.engagement_weight
    priority = (1 - w) * fit[t] + w * engagement_score(world.past).to_numpy()[t]
    result = bt.evaluate(fit[t], probability[t], bt.tier_of(fit[t], thresholds),
                         np.where(listable[t], priority, -np.inf), world.outcomes, cfg.model.confidence)
    result.cutoff, result.n_train, result.model_version = world.cutoff, int(train.sum()), card.version
    return result
