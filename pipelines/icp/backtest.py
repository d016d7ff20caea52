"""Out-of-time backtest metrics: how the cutoff-time model's scores did on what happened after the cutoff.

The test accounts were prospects at the cutoff with a new-business decision after it (pipelines/icp/model.py
builds the cutoff-time model and the outcomes). Conversion: won after the cutoff. Value: won and valuable by the
value measure, judged on what is known by as_of (customers too young to judge are left out of the value figures).
New revenue: what the won accounts brought since. Tier thresholds come from the training customers' scores.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

TIERS = ["A", "B", "C", "D"]
CALIBRATION_BINS = 5


@dataclass(frozen=True)
class Outcomes:
    """What the test accounts did after the cutoff (arrays over the test accounts)."""

    won: np.ndarray       # bool: became a customer
    valuable: np.ndarray  # 1 won and valuable, 0 not, NaN won but too young to judge
    revenue: np.ndarray   # new revenue since the cutoff (USD)


@dataclass(frozen=True)
class Interval:
    """An AUC with its confidence interval."""

    auc: float
    low: float
    high: float

    def beats(self, chance: float) -> bool:
        return self.low > chance

    def __str__(self) -> str:
        return f"AUC {self.auc:.3f} ({self.low:.3f} to {self.high:.3f})"


@dataclass
class BacktestResult:
    cutoff: pd.Timestamp
    model_version: str | None = None  # the cutoff-time model's
    n_train: int = 0
    n_test: int = 0
    n_positive: int = 0
    n_value_known: int = 0
    n_valuable: int = 0
    conversion: Interval | None = None
    value: Interval | None = None
    tier_rates: pd.DataFrame = field(default_factory=pd.DataFrame)
    top_tier_rate: float | None = None
    bottom_tier_rate: float | None = None
    lift_top_vs_bottom: float | None = None
    value_lift_top_vs_bottom: float | None = None
    revenue_share_top_tier: float | None = None
    recall_top_30pct: float | None = None
    n_excluded: int = 0
    excluded_conversion_rate: float | None = None
    gain: pd.DataFrame = field(default_factory=pd.DataFrame)  # share_contacted, share_converted, lift
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibration_error: float | None = None

    @property
    def auc(self) -> float | None:
        return self.conversion.auc if self.conversion else None

    @property
    def value_auc(self) -> float | None:
        return self.value.auc if self.value else None


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


def auc_interval(y: np.ndarray, scores: np.ndarray, confidence: float) -> Interval | None:
    """The AUC of `scores` for the 0/1 outcome `y`, with Hanley and McNeil's (1982) confidence interval; None
    without both outcomes."""
    y = np.asarray(y, dtype=int)
    n1, n0 = int(y.sum()), int(len(y) - y.sum())
    if not n1 or not n0:
        return None
    a = float(roc_auc_score(y, scores))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = np.sqrt(max(a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a), 0.0) / (n1 * n0))
    z = float(norm.ppf(0.5 + confidence / 2))
    return Interval(a, max(a - z * se, 0.0), min(a + z * se, 1.0))


def _lift(top: float | None, bottom: float | None, n_bottom: int) -> float | None:
    """Top rate over bottom rate; the bottom counts at least half an account, so that the lift stays finite."""
    if top is None or not n_bottom:
        return None
    return top / max(bottom or 0.0, 0.5 / n_bottom)


def evaluate(fit: np.ndarray, probability: np.ndarray, tiers: np.ndarray, listed: np.ndarray, outcomes: Outcomes,
             confidence: float) -> BacktestResult:
    """Metrics of the test accounts' cutoff-time scores against their outcomes (cutoff, version and n_train are
    filled in by the caller). `listed`: each account's place in the cutoff-time target list's order (its priority;
    -inf when the list would have left it out); recall and gain follow the list, the AUCs and tiers the fit
    score."""
    won, valuable, revenue = outcomes.won.astype(int), outcomes.valuable, outcomes.revenue
    known = ~np.isnan(valuable)
    res = BacktestResult(cutoff=pd.NaT, n_test=len(won), n_positive=int(won.sum()), n_value_known=int(known.sum()),
                         n_valuable=int(np.nansum(valuable)))
    res.conversion = auc_interval(won, fit, confidence)
    res.value = auc_interval(valuable[known], fit[known], confidence)
    rows = []
    for t in TIERS:
        m = tiers == t
        mk = m & known
        rows.append((t, int(m.sum()), int(won[m].sum()), float(won[m].mean()) if m.any() else None,
                     int(valuable[mk].sum()), float(valuable[mk].mean()) if mk.any() else None,
                     float(revenue[m].sum()), float(revenue[m].sum() / revenue.sum()) if revenue.sum() > 0 else None))
    res.tier_rates = pd.DataFrame(rows, columns=["tier", "n_test", "n_positive", "conversion_rate", "n_valuable",
                                                 "valuable_rate", "new_revenue", "revenue_share"])
    top, bottom = rows[0], rows[-1]
    res.top_tier_rate, res.bottom_tier_rate = top[3], bottom[3]
    res.lift_top_vs_bottom = _lift(top[3], bottom[3], bottom[1])
    res.value_lift_top_vs_bottom = _lift(top[5], bottom[5], int((tiers == "D")[known].sum()))
    res.revenue_share_top_tier = top[7]
    excluded = np.isneginf(listed)
    res.n_excluded = int(excluded.sum())
    res.excluded_conversion_rate = float(won[excluded].mean()) if excluded.any() else None
    if won.sum():
        order = np.lexsort((-fit, -listed))  # the list's order: priority, then fit score
        res.recall_top_30pct = float(won[order[: int(np.ceil(0.3 * len(won)))]].sum() / won.sum())
        res.gain = gain_curve(won[order])
    res.calibration, res.calibration_error = calibration(probability[known], valuable[known])
    return res


def calibration(predicted: np.ndarray, observed: np.ndarray) -> tuple[pd.DataFrame, float | None]:
    """Predicted against observed rates in CALIBRATION_BINS bins of equal size by prediction, and the mean absolute
    gap between them, weighted by the bins' sizes (0 = calibrated)."""
    if not len(predicted):
        return pd.DataFrame(columns=["bin", "n", "mean_predicted", "observed_rate"]), None
    order = np.argsort(predicted, kind="mergesort")
    bins = np.empty(len(order), dtype=int)
    bins[order] = np.arange(len(order)) * CALIBRATION_BINS // len(order)
    table = (pd.DataFrame({"bin": bins + 1, "p": predicted, "y": observed}).groupby("bin")
             .agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean")).reset_index())
    error = float((table["n"] * (table["mean_predicted"] - table["observed_rate"]).abs()).sum() / table["n"].sum())
    return table, error


def gain_curve(y_by_score: np.ndarray, steps: int = 20) -> pd.DataFrame:
    """Cumulative gain: calling the top share of test accounts by score finds this share of the conversions;
    lift is that share over the share called (1 = no better than calling at random)."""
    n, positives = len(y_by_score), y_by_score.sum()
    shares = np.arange(1, steps + 1) / steps
    found = np.array([y_by_score[: int(np.ceil(k * n))].sum() for k in shares]) / positives
    return pd.DataFrame({"share_contacted": shares, "share_converted": found, "lift": found / shares})


def chance_warning(result: BacktestResult, chance: float, confidence: float) -> str | None:
    """Words for a backtest in which neither conversion nor value beats chance: the lower end of neither AUC's
    `confidence` interval is above `chance`. None when either does (the report says which one did not)."""
    if any(i is not None and i.beats(chance) for i in (result.conversion, result.value)):
        return None
    said = [f"{name} {interval if interval else 'not measurable (one outcome only)'}"
            for name, interval in (("conversion", result.conversion), ("value", result.value))]
    return (f"MODEL NO BETTER THAN CHANCE: in the backtest neither {said[0]} nor {said[1]} is above {chance} at "
            f"{confidence:.0%} confidence. Treat the fit scores with caution.")
