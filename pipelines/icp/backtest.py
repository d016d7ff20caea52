"""Out-of-time backtest: train on what was known before a cutoff, test on sales decisions made after it.

Train: accounts whose outcome was known before the cutoff (customers acquired before it, labelled ideal
or not; accounts whose deals were all lost before it). Test: accounts whose first new-business decision
came after the cutoff; positive = won. Tier thresholds come from the training customers' scores.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pipelines.icp.labels import is_customer

TIERS = ["A", "B", "C", "D"]


@dataclass
class BacktestResult:
    cutoff: pd.Timestamp
    n_train: int = 0
    n_test: int = 0
    n_positive: int = 0
    auc: float | None = None
    tier_rates: pd.DataFrame = field(default_factory=pd.DataFrame)  # tier, n_test, n_positive, conversion_rate
    top_tier_rate: float | None = None
    bottom_tier_rate: float | None = None
    lift_top_vs_bottom: float | None = None
    recall_top_30pct: float | None = None
    gain: pd.DataFrame = field(default_factory=pd.DataFrame)  # share_contacted, share_converted, lift


def split(features: pd.DataFrame, cutoff: pd.Timestamp) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Masks of the accounts to train on (outcome known before cutoff) and to test on (decided after), and
    the test accounts' outcome (1 = won after the cutoff)."""
    won_at = pd.to_datetime(features["first_won_date"])
    last_closed = pd.to_datetime(features["last_closed_at"])
    since = pd.to_datetime(features["customer_since"])
    lost_only = (features["won_deals"] == 0) & (features["lost_deals"] > 0)
    train = (is_customer(features) & (since < cutoff)) | (lost_only & (last_closed < cutoff))
    first_decision = won_at.where(won_at.notna(), last_closed.where(lost_only))
    test = (first_decision.notna() & (first_decision >= cutoff) & ~train).fillna(False)
    won_after = won_at.notna() & won_at.ge(cutoff)
    return train.fillna(False), test, won_after[test].astype(int)


def tier_of(scores: np.ndarray | pd.Series, thresholds: list[float]) -> np.ndarray:
    """A/B/C/D from descending score thresholds [A, B, C]."""
    s = np.asarray(scores, dtype=float)
    return np.select([s >= thresholds[0], s >= thresholds[1], s >= thresholds[2]], TIERS[:3], default="D")


def tier_thresholds(customer_scores: pd.Series, shares: list[float]) -> list[float]:
    """Thresholds such that the given shares of customers sit in A, then B, then C (the rest are D)."""
    s = customer_scores.dropna()
    if s.empty:
        return [75.0, 50.0, 25.0]
    cum = np.cumsum(shares)
    return [float(s.quantile(1 - min(c, 1.0))) for c in cum]


def evaluate(scores: pd.Series, y: pd.Series, tiers: np.ndarray) -> BacktestResult:
    """Metrics of test scores against outcomes (cutoff filled in by the caller)."""
    res = BacktestResult(cutoff=pd.NaT, n_test=len(y), n_positive=int(y.sum()))
    y = y.astype(int).to_numpy()
    s = scores.to_numpy(dtype=float)
    if len(np.unique(y)) == 2:
        res.auc = float(roc_auc_score(y, s))
    rows = []
    for t in TIERS:
        m = tiers == t
        rows.append((t, int(m.sum()), int(y[m].sum()), float(y[m].mean()) if m.any() else None))
    res.tier_rates = pd.DataFrame(rows, columns=["tier", "n_test", "n_positive", "conversion_rate"])
    res.top_tier_rate, res.bottom_tier_rate = rows[0][3], rows[-1][3]
    if res.top_tier_rate is not None and rows[-1][1]:
        floor = 0.5 / rows[-1][1]  # half a conversion: keeps the lift finite when tier D never converts
        res.lift_top_vs_bottom = res.top_tier_rate / max(res.bottom_tier_rate or 0.0, floor)
    if y.sum():
        order = np.argsort(-s, kind="mergesort")
        top = order[: int(np.ceil(0.3 * len(s)))]
        res.recall_top_30pct = float(y[top].sum() / y.sum())
        res.gain = gain_curve(y[order])
    return res


def gain_curve(y_by_score: np.ndarray, steps: int = 20) -> pd.DataFrame:
    """Cumulative gain: calling the top share of test accounts by score finds this share of the conversions;
    lift is that share over the share called (1 = no better than calling at random)."""
    n, positives = len(y_by_score), y_by_score.sum()
    shares = np.arange(1, steps + 1) / steps
    found = np.array([y_by_score[: int(np.ceil(k * n))].sum() for k in shares]) / positives
    return pd.DataFrame({"share_contacted": shares, "share_converted": found, "lift": found / shares})
