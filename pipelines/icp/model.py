"""Learn the ICP from account_features and write the scoring tables (schema `scoring` of the build database).

account_scores, icp_segments, target_accounts, the scorecard tables and the backtest's model_evaluation tables are
written; publish copies them to serving. Every step is deterministic (fixed seeds, stable sort orders).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipelines.config import PRE_SALE_ATTRIBUTES, Config
from pipelines.icp import backtest as bt
from pipelines.icp import leakage
from pipelines.icp.attributes import FEATURES, LevelCodes, level_codes
from pipelines.icp.cutoff import cutoff_world, run_backtest
from pipelines.icp.fit import choose_scorecard, engagement_score, supervised, training_labels
from pipelines.icp.inputs import read_inputs
from pipelines.icp.labels import is_customer, label_customers
from pipelines.icp.scorecard import Scorecard, declared_size_rule, score, scores_query, write_scorecard
from pipelines.icp.segments import segment_table
from pipelines.sql import q
from pipelines.publish import write_scoring_table


@dataclass
class IcpResult:
    """What one scoring run produced, for logs and Dagster metadata (the backtest in full is in
    scoring.model_evaluation)."""

    model_version: str
    model_kind: str
    n_accounts: int
    n_customers: int
    n_ideal: int
    n_targets: int
    n_segments: int
    backtest_auc: float | None
    backtest_value_auc: float | None
    lift_top_vs_bottom: float | None
    recall_top_30pct: float | None
    n_test: int
    warnings: list[str] = field(default_factory=list)
    target_list_warning: str | None = None  # also among `warnings`


# One thread per numeric library (OpenMP, BLAS) while scoring: scikit-learn's logistic fits take as long on both
# cores as on one, at twice the CPU, which the step's other work (DuckDB, the second thread below) needs. The
# limit is the process's: it holds in that thread too.
@threadpool_limits.wrap(limits=1)
def build_icp(con: duckdb.DuckDBPyConnection, cfg: Config, refresh_id: str, scored_at: datetime,
              previous: Path | None = None) -> IcpResult:
    """Learn the ICP and write every scoring table, in its published shape, to the catalog `scoring`. `con` is
    the build database (after dbt); `previous` is the live publication's database, for the targets' previous
    ranks."""
    warnings: list[str] = []
    inputs = read_inputs(con, cfg.model.size_bins)
    features = inputs.features
    as_of = pd.Timestamp(features["as_of"].max()) if len(features) else pd.Timestamp(scored_at)
    customers = is_customer(features)
    labels = label_customers(features[customers], cfg)
    y = training_labels(features, labels, cfg)
    checks = leakage.attribute_checks(features, cfg.model.leakage)
    left_out = leakage.left_out(checks)
    enc = leakage.without(supervised(inputs.encoding, features, y.segment, cfg), left_out)
    leak_warning = leakage.warning(checks)
    if leak_warning:
        warnings.append(leak_warning)
    con.register("__checks", checks)
    write_scoring_table(con, "fit_attribute_checks", "SELECT * FROM __checks", order_by="attribute")
    con.unregister("__checks")
    codes = level_codes(con, enc, declared_size_rule(cfg.declared_icp))  # rows in features' order
    not_excluded = _not_excluded(con, cfg, len(features))
    world = cutoff_world(con, features, y.ideal, cfg, declared_size_rule(cfg.declared_icp))
    # The segment tree and the backtest fit in scikit-learn (numpy, mostly outside the GIL) in a second thread:
    # the tree while the scorecard is fitted, the backtest while DuckDB writes the tables. Only this thread uses
    # the connection.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="icp-fit") as pool:
        segments = pool.submit(segment_table, features, codes, y.segment, labels, enc, cfg, left_out)
        card = choose_scorecard(codes, y, enc, cfg, int(customers.sum()), warnings)
        backtest_warnings: list[str] = []
        backtest = pool.submit(run_backtest, world, card, cfg, not_excluded, backtest_warnings)
        n_targets, seg, thresholds, target_warning = _score_and_write(
            con, cfg, features, customers, labels, codes, card, segments.result(), scored_at, previous, not_excluded)
        result, declared = backtest.result()
    warnings += backtest_warnings + ([target_warning] if target_warning else [])
    _write_evaluation(con, result, declared, card, cfg, scored_at, as_of, thresholds, target_warning)
    return IcpResult(card.version, card.kind, len(features), int(customers.sum()), int(labels["is_ideal"].sum()),
                     n_targets, len(seg), result.auc, result.value_auc, result.lift_top_vs_bottom,
                     result.recall_top_30pct,
                     result.n_test, warnings, target_warning)


def _score_and_write(con: duckdb.DuckDBPyConnection, cfg: Config, features: pd.DataFrame, customers: pd.Series,
                     labels: pd.DataFrame, codes: LevelCodes, card: Scorecard, segments: tuple[pd.DataFrame, np.ndarray],
                     scored_at: datetime, previous: Path | None, not_excluded: np.ndarray
                     ) -> tuple[int, pd.DataFrame, list[float], str | None]:
    """Score every account with the card and write account_scores, the scorecard, icp_segments (from `segments`,
    see segment_table) and target_accounts. Returns the number of targets, the segment table, the tier thresholds and
    the target list's warning (None when the list kept enough of its candidates)."""
    fit = score(card, codes, cfg.scoring.scale)
    write_scorecard(con, card, fit.scale, cfg.declared_icp)
    fit_score = pd.Series(fit.fit_score, index=features.index)

    seg, leaves = segments
    position = pd.Series(np.arange(len(seg)), index=seg.index)  # leaf -> row of seg (S01, S02, ...)
    segment_id = pd.Series(pd.Categorical.from_codes(position[leaves].to_numpy(), categories=seg["segment_id"]),
                           index=features.index)
    kind_of = dict(zip(seg["segment_id"], seg["kind"]))

    thresholds = bt.tier_thresholds(fit_score[customers], cfg.scoring.tier_shares)
    tiers = bt.tier_of(fit_score, thresholds)
    engagement = engagement_score(features)
    w = cfg.scoring.engagement_weight
    priority = (1 - w) * fit_score + w * engagement

    bad_fit = pd.Series(False, index=features.index)
    bad_fit.loc[labels.index] = labels["is_bad_fit"]
    anti_icp = segment_id.map(kind_of).eq("anti_icp").astype(bool)
    bad_fit |= anti_icp
    bad_fit_reason = labels["bad_fit_reason"].reindex(features.index).where(~bad_fit | ~anti_icp, "anti-ICP segment")
    bad_fit_reason[~customers] = np.where(bad_fit[~customers], "anti-ICP segment", None)
    status, status_reason = _score_status(cfg, features, bad_fit, bad_fit_reason, segment_id,
                                          dict(zip(seg["segment_id"], seg["segment_label"])),
                                          not_excluded)
    # In account_id order, like __accounts (carried by the scores' rows); text columns as categories (Arrow
    # dictionaries: DuckDB reads them as codes, not a million strings).
    scores = pd.DataFrame({
        "lifecycle": features["lifecycle"].astype("category"), "fit_tier": pd.Categorical(tiers),
        "segment_id": segment_id, "value_index": labels["value_index"].reindex(features.index),
        "is_ideal": labels["is_ideal"].reindex(features.index).astype("boolean"), "is_bad_fit": bad_fit,
        "bad_fit_reason": bad_fit_reason.astype("category"),
        "engagement_score": engagement.round(2), "priority_score": priority.round(2),
        "score_status": status, "status_reason": status_reason,
    })
    select = f"""
        SELECT account_id, account_name, CAST(lifecycle AS VARCHAR) AS lifecycle, fit_score,
               CAST(fit_tier AS VARCHAR) AS fit_tier, CAST(segment_id AS VARCHAR) AS segment_id, value_index,
               is_ideal, is_bad_fit, CAST(bad_fit_reason AS VARCHAR) AS bad_fit_reason, reasons,
               fit_probability, fit_baseline, engagement_score, priority_score,
               CAST(score_status AS VARCHAR) AS score_status, CAST(status_reason AS VARCHAR) AS status_reason,
               CAST($scored_at AS TIMESTAMP) AS scored_at, CAST($model_version AS VARCHAR) AS model_version
        FROM ({scores_query(con, fit, codes, carried=scores)})"""
    write_scoring_table(con, "account_scores", select, {"scored_at": scored_at, "model_version": card.version})
    con.unregister("__scored")

    seg_out = seg.reset_index(drop=True)[["segment_id", "segment_label", "kind", "n_accounts", "n_customers", "n_ideal",
                                           "ideal_rate", "lift", "win_rate", "avg_value_index", "churn_rate", "n_prospects",
                                           "p_value"]]
    con.register("__seg", seg_out)
    write_scoring_table(con, "icp_segments", "SELECT * FROM __seg", order_by="segment_id")
    con.unregister("__seg")

    n_targets, warning = _targets(con, cfg, scores, fit.fit_score, previous)
    return n_targets, seg, thresholds, warning


def _targets(con: duckdb.DuckDBPyConnection, cfg: Config, scores: pd.DataFrame, fit_score: np.ndarray,
             previous: Path | None) -> tuple[int, str | None]:
    """target_accounts: prospects (and fitting churned accounts, flagged win-back) ranked by priority_score, with
    each one's rank in the `previous` publication (is_new when it was not listed there).

    The ranks are numbered in numpy (_ranked), not by a window over the joined rows in DuckDB: that holds every
    row's text in memory only to count them.
    """
    ranked, warning = _ranked(cfg, scores, fit_score)
    con.register("__ranks", pd.DataFrame({"position": ranked, "rank": np.arange(1, len(ranked) + 1)}))
    if previous:
        con.execute(f"ATTACH {q(str(previous))} AS prev (READ_ONLY)")
        was = "p.rank AS previous_rank, p.account_id IS NULL AS is_new"
        join = "LEFT JOIN prev.target_accounts p ON p.account_id = s.account_id"
    else:
        was, join = "CAST(NULL AS BIGINT) AS previous_rank, false AS is_new", ""
    select = f"""
            SELECT
                r.rank, s.account_id, s.account_name, f.industry, f.employee_count, f.annual_revenue, f.country,
                f.region, s.fit_score, s.fit_tier, s.segment_id, g.segment_label, s.engagement_score,
                s.priority_score, s.reasons, f.open_opportunities > 0 AS has_open_opportunity, f.owner, s.scored_at,
                s.model_version, s.lifecycle = 'churned' AS is_winback, f.domain, s.fit_probability,
                s.score_status, s.status_reason, {was}
            FROM scoring.account_scores s
            JOIN __ranks r ON r.position = s.rowid  -- account_scores was written in account_id order
            JOIN {FEATURES} f USING (account_id)
            JOIN scoring.icp_segments g USING (segment_id)
            {join}"""
    try:
        write_scoring_table(con, "target_accounts", select, order_by="rank")
    finally:
        if previous:
            con.execute("DETACH prev")
    con.unregister("__ranks")
    return len(ranked), warning


def _ranked(cfg: Config, scores: pd.DataFrame, fit_score: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The positions (account_id order, like `scores`) of the target accounts, best first: prospects and, with
    win-back on, churned accounts that are not disqualified (see _score_status); by priority_score, then
    fit_score (both descending), then account_id. Also a warning when the disqualifications left out more than
    `scoring.max_excluded_share` of the candidates (see target_list_warning)."""
    lifecycle = scores["lifecycle"]  # a category: compared by its codes
    wanted = ((lifecycle == "prospect") | ((lifecycle == "churned") & cfg.scoring.winback)).to_numpy()
    disqualified = (scores["score_status"] == "disqualified").to_numpy()
    rows = np.flatnonzero(wanted & ~disqualified)
    priority, fit = scores["priority_score"].to_numpy()[rows], fit_score[rows]
    removed = scores["status_reason"][wanted & disqualified].value_counts(sort=False)
    warning = target_list_warning(removed[removed > 0], int(wanted.sum()), cfg.scoring.max_excluded_share)
    return rows[np.lexsort((rows, -fit, -priority))], warning  # the last key sorts first


KNOWN_ATTRIBUTES = list(PRE_SALE_ATTRIBUTES)


def _score_status(cfg: Config, features: pd.DataFrame, bad_fit: pd.Series, bad_fit_reason: pd.Series,
                  segment_id: pd.Series, segment_labels: dict[str, str], not_excluded: np.ndarray
                  ) -> tuple[pd.Categorical, pd.Categorical]:
    """Per account: `disqualified` (excluded in icp.yaml, an anti-ICP segment or a bad-fit rule, in that order,
    the rule in words as its reason), else `insufficient_data` (fewer than scoring.min_known_attributes of the
    pre-sale attributes known: its score is mostly the baseline, not a judgement), else `scored`. Both come as
    categories: a reason's text is made once, not once per account."""
    bad = pd.Categorical(bad_fit_reason)
    texts = ["excluded by icp.yaml (exclude:)"]
    anti_at = len(texts)
    texts += [f"anti-ICP segment {s} ({segment_labels.get(s, '?')})" for s in segment_id.cat.categories]
    bad_at = len(texts)
    texts += [f"bad fit: {r}" for r in bad.categories] + ["bad fit"]
    missing_at = len(texts)
    texts += [f"only {bin(p).count('1')} of {len(KNOWN_ATTRIBUTES)} pre-sale attributes known (missing: "
              + ", ".join(a.replace("_", " ") for i, a in enumerate(KNOWN_ATTRIBUTES) if not p >> i & 1) + ")"
              for p in range(1 << len(KNOWN_ATTRIBUTES))]
    known = features[KNOWN_ATTRIBUTES].notna().to_numpy()
    pattern = known @ (1 << np.arange(len(KNOWN_ATTRIBUTES)))  # which attributes are known, as a bit mask
    disqualified = ~not_excluded | bad_fit.to_numpy()
    insufficient = ~disqualified & (known.sum(axis=1) < cfg.scoring.min_known_attributes)
    is_anti = np.asarray(bad == "anti-ICP segment") if "anti-ICP segment" in bad.categories else False
    bad_code = np.where(bad.codes >= 0, bad_at + bad.codes, missing_at - 1)
    rule = np.where(~not_excluded, 0, np.where(is_anti, anti_at + segment_id.cat.codes.to_numpy(), bad_code))
    reason = np.where(disqualified, rule, np.where(insufficient, missing_at + pattern, -1))
    status = np.where(disqualified, 2, np.where(insufficient, 1, 0))
    return (pd.Categorical.from_codes(status, categories=["scored", "insufficient_data", "disqualified"]),
            pd.Categorical.from_codes(reason, categories=texts))


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


def _not_excluded(con: duckdb.DuckDBPyConnection, cfg: Config, n_accounts: int) -> np.ndarray:
    """Per account (account_id order, as in `__accounts`): not excluded by domain or name in icp.yaml."""
    conditions = []
    if cfg.exclude.domains:
        conditions.append(f"coalesce(lower(f.domain), '') NOT IN ({', '.join(q(d.lower()) for d in cfg.exclude.domains)})")
    if cfg.exclude.account_names:
        conditions.append(f"lower(a.account_name) NOT IN ({', '.join(q(n.lower()) for n in cfg.exclude.account_names)})")
    if not conditions:
        return np.ones(n_accounts, dtype=bool)
    return con.execute(f"""SELECT coalesce({' AND '.join(conditions)}, false) AS kept
        FROM __accounts a LEFT JOIN {FEATURES} f USING (account_id) ORDER BY a.account_id""").fetchnumpy()["kept"]


def _write_evaluation(con: duckdb.DuckDBPyConnection, result: bt.BacktestResult, declared: bt.BacktestResult | None,
                      card: Scorecard, cfg: Config, scored_at: datetime, as_of: pd.Timestamp, thresholds: list[float],
                      target_warning: str | None) -> None:
    """model_evaluation (one row: the backtest's conversion and value evidence, with intervals, beside the
    declared ICP's), model_evaluation_tiers, model_evaluation_gain and model_evaluation_calibration."""
    def interval(i: bt.Interval | None) -> tuple[float | None, float | None, float | None]:
        return (i.auc, i.low, i.high) if i else (None, None, None)

    auc, auc_low, auc_high = interval(result.conversion)
    value_auc, value_low, value_high = interval(result.value)
    row = {
        "model_version": card.version, "model_kind": card.kind, "evaluated_at": scored_at,
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
    _write_frame(con, "model_evaluation_gain", gain.assign(model_version=card.version), order_by="share_contacted")
    tiers = result.tier_rates if len(result.tier_rates) else pd.DataFrame(
        {"tier": bt.TIERS, "n_test": 0, "n_positive": 0, "conversion_rate": np.nan, "n_valuable": 0,
         "valuable_rate": np.nan, "new_revenue": 0.0, "revenue_share": np.nan})
    _write_frame(con, "model_evaluation_tiers", tiers.assign(model_version=card.version))
    calibration = result.calibration if len(result.calibration) else pd.DataFrame(
        {"bin": pd.Series(dtype="int64"), "n": pd.Series(dtype="int64"), "mean_predicted": pd.Series(dtype=float),
         "observed_rate": pd.Series(dtype=float)})
    _write_frame(con, "model_evaluation_calibration", calibration.assign(model_version=card.version), order_by="bin")


def _write_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, select: str = "SELECT * FROM __frame",
                 order_by: str | None = None) -> None:
    """Write a small frame as the scoring table `table` (through `select` over it, registered as __frame)."""
    con.register("__frame", frame)
    try:
        write_scoring_table(con, table, select, order_by=order_by)
    finally:
        con.unregister("__frame")
