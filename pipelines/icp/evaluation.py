"""The backtest of a refresh's model and the evaluation tables (model_evaluation, _tiers, _gain, _calibration).

It runs after dbt's scoring models: the backtest learns the model again at the cutoff, from the same bounded set of
accounts the fit learned from (pipelines/icp/cutoff.py), and the target list's warning counts what scoring left
out of today's list in the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipelines.config import Config
from pipelines.icp import backtest as bt
from pipelines.icp.attributes import FEATURES
from pipelines.icp.cutoff import cutoff_world, run_backtest
from pipelines.icp.fit import training_labels
from pipelines.icp.inputs import FIT_ACCOUNTS, read_fit_accounts
from pipelines.icp.model import fit_labels
from pipelines.icp.scorecard import declared_size_rule
from pipelines.publish import write_scoring_table
from pipelines.sql import q
from pipelines.warehouse import frame


EXCLUDED = "excluded by icp.yaml (exclude:)"  # account_scores' status_reason of an account excluded in icp.yaml


@dataclass
class EvaluationResult:
    """The backtest's headline figures, for logs and Dagster metadata (in full in scoring.model_evaluation)."""

    model_version: str
    backtest_auc: float | None
    backtest_value_auc: float | None
    lift_top_vs_bottom: float | None
    recall_top_30pct: float | None
    n_test: int
    n_targets: int
    warnings: list[str] = field(default_factory=list)
    target_list_warning: str | None = None  # also among `warnings`


@threadpool_limits.wrap(limits=1)
def evaluate_icp(con: duckdb.DuckDBPyConnection, cfg: Config, evaluated_at: datetime) -> EvaluationResult:
    """Backtest the model of the fit tables and write the evaluation tables to the catalog `scoring`."""
    model = con.execute("SELECT model_version, model_kind, tier_a, tier_b, tier_c FROM fit.model").fetchone()
    version, kind, thresholds = model[0], model[1], list(model[2:])
    accounts = read_fit_accounts(con)  # the accounts the fit learned from (fit.accounts)
    labels = fit_labels(frame(con, f"SELECT l.* FROM fit.customer_labels l JOIN {FIT_ACCOUNTS} USING (account_id) "
                                   "ORDER BY account_id").set_index("account_id"), accounts)
    warnings: list[str] = []
    world = cutoff_world(con, accounts, training_labels(accounts, labels, cfg).ideal, cfg,
                         declared_size_rule(cfg.declared_icp))
    result, declared = run_backtest(world, kind, cfg, _not_excluded(con), warnings)
    n_targets = con.execute("SELECT count(*) FROM scoring.target_accounts").fetchone()[0]
    target_warning = _target_list_warning(con, cfg)
    warnings += [target_warning] if target_warning else []
    as_of = pd.Timestamp(con.execute(f"SELECT max(as_of) FROM {FEATURES}").fetchone()[0] or evaluated_at)
    _write_evaluation(con, result, declared, version, kind, cfg, evaluated_at, as_of, thresholds, target_warning)
    return EvaluationResult(version, result.auc, result.value_auc, result.lift_top_vs_bottom,
                            result.recall_top_30pct, result.n_test, n_targets, warnings, target_warning)


def _target_list_warning(con: duckdb.DuckDBPyConnection, cfg: Config) -> str | None:
    """target_list_warning over today's account_scores: the candidates (prospects, and churned accounts with
    win-back on) and those disqualified, by rule."""
    wanted = f"(lifecycle = 'prospect' OR (lifecycle = 'churned' AND {str(cfg.scoring.winback).lower()}))"
    n_candidates = con.execute(f"SELECT count(*) FROM scoring.account_scores WHERE {wanted}").fetchone()[0]
    removed = dict(con.execute(f"""SELECT status_reason, count(*) FROM scoring.account_scores
                                   WHERE {wanted} AND score_status = 'disqualified' GROUP BY status_reason""").fetchall())
    return target_list_warning(pd.Series(removed, dtype="int64"), n_candidates, cfg.scoring.max_excluded_share)


def target_list_warning(removed: pd.Series, n_candidates: int, max_share: float) -> str | None:
    """Words for a target list that lost more than `max_share` of its `n_candidates` (prospects and win-back
    candidates) to the rules in `removed` (rule -> accounts left out), largest first; None otherwise. An empty
    list is said in capitals: the refresh still publishes it."""
    n_removed = int(removed.sum())
    if not n_candidates or n_removed <= max_share * n_candidates:
        return None
    rules = "; ".join(f"{rule}: {n:,}" for rule, n in
                      sorted(removed.items(), key=lambda item: (-item[1], item[0])))
    if n_removed == n_candidates:
        return (f"TARGET LIST IS EMPTY: all {n_candidates:,} prospects and win-back candidates were left out. "
                f"Left out by: {rules}. Check the segments in the report and the exclusions in icp.yaml.")
    return (f"the target list lost {n_removed:,} of {n_candidates:,} prospects and win-back candidates "
            f"({n_removed / n_candidates:.0%}, more than scoring.max_excluded_share = {max_share:.0%}). "
            f"Left out by: {rules}.")


def _not_excluded(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """Per account of the fit (account_id order): not excluded by domain or name in icp.yaml, as today's scoring
    decided (account_scores' status_reason)."""
    return con.execute(f"""SELECT s.status_reason IS DISTINCT FROM {q(EXCLUDED)} AS kept
        FROM {FIT_ACCOUNTS} a JOIN scoring.account_scores s USING (account_id) ORDER BY a.account_id""").fetchnumpy()["kept"]


def _write_evaluation(con: duckdb.DuckDBPyConnection, result: bt.BacktestResult, declared: bt.BacktestResult | None,
                      version: str, kind: str, cfg: Config, scored_at: datetime, as_of: pd.Timestamp,
                      thresholds: list[float], target_warning: str | None) -> None:
    """model_evaluation (one row: the backtest's conversion and value evidence, with intervals, beside the
    declared ICP's), model_evaluation_tiers, model_evaluation_gain and model_evaluation_calibration."""
    def interval(i: bt.Interval | None) -> tuple[float | None, float | None, float | None]:
        return (i.auc, i.low, i.high) if i else (None, None, None)

    auc, auc_low, auc_high = interval(result.conversion)
    value_auc, value_low, value_high = interval(result.value)
    row = {
        "model_version": version, "model_kind": kind, "evaluated_at": scored_at,
        "cutoff_date": result.cutoff.date() if pd.notna(result.cutoff) else None, "as_of": as_of,
        "n_train": result.n_train, "n_test": result.n_test, "n_positive": result.n_positive,
        "auc": auc, "top_tier_rate": result.top_tier_rate, "bottom_tier_rate": result.bottom_tier_rate,
        "lift_top_vs_bottom": result.lift_top_vs_bottom, "recall_top_30pct": result.recall_top_30pct,
        "tier_a_threshold": thresholds[0], "tier_b_threshold": thresholds[1], "tier_c_threshold": thresholds[2],
        "declared_auc": declared.auc if declared else None,
        "declared_lift_top_vs_bottom": declared.lift_top_vs_bottom if declared else None,
        "declared_recall_top_30pct": declared.recall_top_30pct if declared else None,
        "target_list_warning": target_warning,
        "auc_ci_low": auc_low, "auc_ci_high": auc_high,
        "n_value_known": result.n_value_known, "n_valuable": result.n_valuable,
        "value_auc": value_auc, "value_auc_ci_low": value_low, "value_auc_ci_high": value_high,
        "value_lift_top_vs_bottom": result.value_lift_top_vs_bottom,
        "revenue_share_top_tier": result.revenue_share_top_tier,
        "n_test_excluded": result.n_excluded, "excluded_conversion_rate": result.excluded_conversion_rate,
        "calibration_error": result.calibration_error, "confidence": cfg.model.confidence,
        "chance_auc": cfg.model.chance_auc,
        "chance_warning": bt.chance_warning(result, cfg.model.chance_auc, cfg.model.confidence)
        if result.model_version else None,
        "backtest_model_version": result.model_version,
    }
    evaluation = pd.DataFrame([row])
    evaluation["cutoff_date"] = pd.to_datetime(evaluation["cutoff_date"])
    for text in ("target_list_warning", "chance_warning", "backtest_model_version"):
        evaluation[text] = evaluation[text].astype("string")
    _write_frame(con, "model_evaluation", evaluation,
                 "SELECT * REPLACE (CAST(cutoff_date AS DATE) AS cutoff_date) FROM __frame")
    gain = result.gain if len(result.gain) else pd.DataFrame(
        {"share_contacted": pd.Series(dtype=float), "share_converted": pd.Series(dtype=float),
         "lift": pd.Series(dtype=float)})
    _write_frame(con, "model_evaluation_gain", gain.assign(model_version=version), order_by="share_contacted")
    tiers = result.tier_rates if len(result.tier_rates) else pd.DataFrame(
        {"tier": bt.TIERS, "n_test": 0, "n_positive": 0, "conversion_rate": np.nan, "n_valuable": 0,
         "valuable_rate": np.nan, "new_revenue": 0.0, "revenue_share": np.nan})
    _write_frame(con, "model_evaluation_tiers", tiers.assign(model_version=version))
    calibration = result.calibration if len(result.calibration) else pd.DataFrame(
        {"bin": pd.Series(dtype="int64"), "n": pd.Series(dtype="int64"), "mean_predicted": pd.Series(dtype=float),
         "observed_rate": pd.Series(dtype=float)})
    _write_frame(con, "model_evaluation_calibration", calibration.assign(model_version=version), order_by="bin")


def _write_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, select: str = "SELECT * FROM __frame",
                 order_by: str | None = None) -> None:
    """Write a small frame as the scoring table `table` (through `select` over it, registered as __frame)."""
    con.register("__frame", frame)
    try:
        write_scoring_table(con, table, select, order_by=order_by)
    finally:
        con.unregister("__frame")
