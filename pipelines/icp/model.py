"""Learn the ICP from account_features and write the scoring tables (schema `scoring` of the build database).

account_scores, icp_segments, target_accounts, model_evaluation and model_evaluation_tiers are written;
publish copies them to serving. Every step is deterministic (fixed seeds, stable sort orders).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipelines.config import PRE_SALE_ATTRIBUTES, Config
from pipelines.icp import backtest as bt
from pipelines.icp import leakage
from pipelines.icp.attributes import FEATURES, Encoding, LevelCodes, level_codes, supervised_edges
from pipelines.icp.inputs import read_inputs
from pipelines.icp.labels import is_customer, label_customers
from pipelines.icp.scorecard import (Scorecard, combine, declared_size_rule, design, distinct_rows, fit_declared,
                                     fit_design, score, scores_query, write_scorecard)
from pipelines.icp.segments import CATEGORIES, NUMBERS, assign, fit_segments
from pipelines.sql import q
from pipelines.publish import write_scoring_table


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


def _training_labels(features: pd.DataFrame, labels: pd.DataFrame, cfg: Config) -> TrainingLabels:
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


def _supervised(enc: Encoding, features: pd.DataFrame, y: pd.Series, cfg: Config) -> Encoding:
    """Replace quantile bands by bands that separate ideal from other accounts, where labels allow."""
    labelled = y.notna()
    edges = {}
    for column, field_name in (("employee_count", "employee_edges"), ("annual_revenue", "revenue_edges")):
        learned = supervised_edges(features.loc[labelled, column].to_numpy(dtype=float),
                                   y[labelled].to_numpy(dtype=int), cfg.model.size_bins, cfg.model.seed)
        if learned:
            edges[field_name] = learned
    return replace(enc, **edges)


def _choose_scorecard(codes: LevelCodes, y: TrainingLabels, enc: Encoding, cfg: Config, n_customers: int,
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
    return _two_part(codes, y.ideal, y.win, enc, cfg)


def _two_part(codes: LevelCodes, ideal: pd.Series, win: pd.Series, enc: Encoding, cfg: Config) -> Scorecard:
    """The fit scorecard: log-odds of winning the account plus log-odds of it turning out ideal once won.

    Their sum approximates the log of the chance that an account becomes an ideal customer; each part is a
    logistic regression on the same pre-sale attributes, so the points simply add up.
    """
    cards = [_fit_learned_on(codes, y.dropna(), enc, cfg) for y in (win, ideal) if y.dropna().nunique() == 2]
    return combine(cards)


def _fit_learned_on(codes: LevelCodes, y: pd.Series, enc: Encoding, cfg: Config) -> Scorecard:
    """Fit the learned scorecard on the labelled accounts `y` (indexed by position in account_id order)."""
    rows, labels, weight = distinct_rows(codes, enc, y.index.to_numpy(), y.to_numpy(dtype=int))
    return fit_design(design(codes, enc, rows), labels, enc, cfg.model.regularisation, weight)


def _segments(features: pd.DataFrame, codes: LevelCodes, y: pd.Series, labels: pd.DataFrame, enc: Encoding,
              cfg: Config, left_out: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The segment table (statistics and kind, indexed by tree leaf) and every account's leaf. The attributes
    `left_out` by the leakage guard are blanked for the tree: it cannot split on them."""
    labelled = y.notna()
    if y[labelled].nunique() >= 2:
        inputs = features[CATEGORIES + NUMBERS].assign(**{c: np.nan for c in left_out}, **{
            f"tech:{t}": codes.has(f"tech_{i}", f"uses {t}") for i, t in enumerate(enc.technologies)})
        model = fit_segments(inputs[labelled], y[labelled].to_numpy(), list(enc.technologies), inputs,
                             cfg.model.max_segment_depth, cfg.model.min_segment_share, cfg.model.seed)
        leaves = assign(model, inputs)
        label_of = model.labels
    else:
        leaves, label_of = np.zeros(len(features), dtype=int), {0: "all accounts"}
    f = features[["lifecycle", "won_deals", "lost_deals", "is_churned"]].copy()
    f["leaf"] = leaves
    f["is_customer"] = is_customer(f)
    f["is_ideal"] = labels["is_ideal"].reindex(f.index).astype("boolean").fillna(False).astype(bool)
    f["value_index"] = labels["value_index"].reindex(f.index)
    g = f.groupby("leaf")
    seg = pd.DataFrame({
        "n_accounts": g.size(),
        "n_customers": g["is_customer"].sum(),
        "n_ideal": g["is_ideal"].sum(),
        "won": g["won_deals"].sum(),
        "closed": g["won_deals"].sum() + g["lost_deals"].sum(),
        "churned": g["is_churned"].apply(lambda s: s.fillna(False).astype(bool).sum()),
        "avg_value_index": g["value_index"].mean(),
        "n_prospects": g["lifecycle"].apply(lambda s: (s == "prospect").sum()),
    })
    seg["ideal_rate"] = seg["n_ideal"] / seg["n_customers"].replace(0, np.nan)
    overall = seg["n_ideal"].sum() / max(seg["n_customers"].sum(), 1)
    seg["lift"] = seg["ideal_rate"] / overall if overall > 0 else np.nan
    seg["win_rate"] = seg["won"] / seg["closed"].replace(0, np.nan)
    seg["churn_rate"] = seg["churned"] / seg["n_customers"].replace(0, np.nan)
    bad = f.assign(bad=labels["is_bad_fit"].reindex(f.index).astype("boolean").fillna(False).astype(bool)).groupby("leaf")["bad"].sum()
    seg["bad_fit_rate"] = bad / seg["n_customers"].replace(0, np.nan)
    overall_bad = bad.sum() / max(seg["n_customers"].sum(), 1)
    poor_value = seg["lift"].fillna(0) <= 0.5
    # Compared with the other non-ICP segments, so that a strong ICP does not make everyone else look bad.
    is_icp = (seg["lift"] >= 1.5) & (seg["n_ideal"] >= 3)
    rest_win = seg.loc[~is_icp, "won"].sum() / max(seg.loc[~is_icp, "closed"].sum(), 1)
    rarely_buys = (seg["win_rate"].fillna(1) <= 0.5 * rest_win) & (seg["closed"] >= 10)
    often_bad = (seg["bad_fit_rate"].fillna(0) >= max(0.4, 2 * overall_bad)) & (seg["n_customers"] >= 5)
    seg["kind"] = np.select(
        [is_icp, poor_value & (rarely_buys | often_bad)],
        ["icp", "anti_icp"], default="neutral")
    seg["segment_label"] = [label_of[leaf] for leaf in seg.index]
    seg = seg.sort_values(["lift", "n_accounts"], ascending=[False, False], na_position="last", kind="mergesort")
    seg["segment_id"] = [f"S{i + 1:02d}" for i in range(len(seg))]
    return seg, leaves


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
    y = _training_labels(features, labels, cfg)
    checks = leakage.attribute_checks(features, cfg.model.leakage)
    left_out = leakage.left_out(checks)
    enc = leakage.without(_supervised(inputs.encoding, features, y.segment, cfg), left_out)
    leak_warning = leakage.warning(checks)
    if leak_warning:
        warnings.append(leak_warning)
    con.register("__checks", checks)
    write_scoring_table(con, "fit_attribute_checks", "SELECT * FROM __checks", order_by="attribute")
    con.unregister("__checks")
    codes = level_codes(con, enc, declared_size_rule(cfg.declared_icp))  # rows in features' order
    # The segment tree and the backtest fit in scikit-learn (numpy, mostly outside the GIL) in a second thread:
    # the tree while the scorecard is fitted, the backtest while DuckDB writes the tables.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="icp-fit") as pool:
        segments = pool.submit(_segments, features, codes, y.segment, labels, enc, cfg, left_out)
        card = _choose_scorecard(codes, y, enc, cfg, int(customers.sum()), warnings)
        backtest_warnings: list[str] = []
        backtest = pool.submit(_backtest, codes, features, y, enc, cfg, card, as_of, backtest_warnings)
        n_targets, seg, thresholds, target_warning = _score_and_write(
            con, cfg, features, customers, labels, codes, card, segments.result(), scored_at, previous)
        result = backtest.result()
    warnings += backtest_warnings + ([target_warning] if target_warning else [])
    _write_evaluation(con, codes, result, card, cfg, scored_at, as_of, thresholds, features, enc, target_warning)
    return IcpResult(card.version, card.kind, len(features), int(customers.sum()), int(labels["is_ideal"].sum()),
                     n_targets, len(seg), result.auc, result.lift_top_vs_bottom, result.recall_top_30pct,
                     result.n_test, warnings, target_warning)


def _score_and_write(con: duckdb.DuckDBPyConnection, cfg: Config, features: pd.DataFrame, customers: pd.Series,
                     labels: pd.DataFrame, codes: LevelCodes, card: Scorecard, segments: tuple[pd.DataFrame, np.ndarray],
                     scored_at: datetime, previous: Path | None
                     ) -> tuple[int, pd.DataFrame, list[float], str | None]:
    """Score every account with the card and write account_scores, the scorecard, icp_segments (from `segments`,
    see _segments) and target_accounts. Returns the number of targets, the segment table, the tier thresholds and
    the target list's warning (None when the list kept enough of its candidates)."""
    fit = score(card, codes)
    write_scorecard(con, card, fit.scale, cfg.declared_icp)
    fit_score = pd.Series(fit.fit_score, index=features.index)

    seg, leaves = segments
    position = pd.Series(np.arange(len(seg)), index=seg.index)  # leaf -> row of seg (S01, S02, ...)
    segment_id = pd.Series(pd.Categorical.from_codes(position[leaves].to_numpy(), categories=seg["segment_id"]),
                           index=features.index)
    kind_of = dict(zip(seg["segment_id"], seg["kind"]))

    thresholds = bt.tier_thresholds(fit_score[customers], cfg.scoring.tier_shares)
    tiers = bt.tier_of(fit_score, thresholds)
    engagement = 100 * (1 - np.exp(-(features["engagement_points"].fillna(0) + 3 * features["open_opportunities"]) / 5.0))
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
                                          _not_excluded(con, cfg, len(features)))
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
                                           "ideal_rate", "lift", "win_rate", "avg_value_index", "churn_rate", "n_prospects"]]
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


def _backtest(codes: LevelCodes, features: pd.DataFrame, y: TrainingLabels, enc: Encoding, cfg: Config,
              card: Scorecard, as_of: pd.Timestamp, warnings: list[str]) -> bt.BacktestResult:
    """Refit the same kind of scorecard on what was known before the cutoff; test on later decisions."""
    cutoff = as_of - pd.DateOffset(months=cfg.model.backtest_months)
    train, test, y_test = bt.split(features, cutoff)
    y_train = y.segment[train].dropna()
    result = bt.BacktestResult(cutoff=cutoff, n_train=len(y_train), n_test=int(test.sum()), n_positive=int(y_test.sum()))
    if y_train.nunique() < 2 or test.sum() == 0 or card.kind == "uniform":
        warnings.append(f"backtest skipped: {len(y_train)} labelled accounts before {cutoff:%Y-%m-%d} "
                        f"and {int(test.sum())} decided after it")
        return result
    bt_card = _two_part(codes, y.ideal[train], y.win[train], enc, cfg) if card.kind == "learned" else card
    result = _evaluate_card(codes, bt_card, features, train, test, y_test, cfg)
    result.cutoff, result.n_train = cutoff, len(y_train)
    if result.n_positive < cfg.model.min_backtest_positives:
        warnings.append(f"backtest has only {result.n_positive} conversions after {cutoff:%Y-%m-%d}: its figures are noisy")
    if result.auc is not None and result.auc < cfg.model.chance_auc:
        warnings.append(f"MODEL NO BETTER THAN CHANCE: backtest AUC {result.auc:.3f} < {cfg.model.chance_auc} — "
                        "treat the fit scores with caution")
    return result


def _evaluate_card(codes: LevelCodes, card: Scorecard, features: pd.DataFrame, train: pd.Series, test: pd.Series,
                   y_test: pd.Series, cfg: Config) -> bt.BacktestResult:
    """Score the train and test accounts together with `card`; tiers from the training customers' scores."""
    rows = np.flatnonzero((train | test).to_numpy())
    s = pd.Series(np.nan, index=features.index)
    s.iloc[rows] = score(card, codes, rows).fit_score
    thresholds = bt.tier_thresholds(s[train & is_customer(features)], cfg.scoring.tier_shares)
    return bt.evaluate(s[test], y_test, bt.tier_of(s[test], thresholds))


def _write_evaluation(con: duckdb.DuckDBPyConnection, codes: LevelCodes, result: bt.BacktestResult, card: Scorecard,
                      cfg: Config,
                      scored_at: datetime, as_of: pd.Timestamp, thresholds: list[float], features: pd.DataFrame,
                      enc: Encoding, target_warning: str | None) -> None:
    declared = None
    if not cfg.declared_icp.is_empty and card.kind == "learned" and result.n_test:
        declared = _evaluate_card(codes, fit_declared(cfg.declared_icp, enc), features,
                                  *bt.split(features, result.cutoff), cfg)
    row = {
        "model_version": card.version, "model_kind": card.kind, "evaluated_at": scored_at,
        "cutoff_date": result.cutoff.date() if pd.notna(result.cutoff) else None, "as_of": as_of,
        "n_train": result.n_train, "n_test": result.n_test, "n_positive": result.n_positive,
        "auc": result.auc, "top_tier_rate": result.top_tier_rate, "bottom_tier_rate": result.bottom_tier_rate,
        "lift_top_vs_bottom": result.lift_top_vs_bottom, "recall_top_30pct": result.recall_top_30pct,
        "tier_a_threshold": thresholds[0], "tier_b_threshold": thresholds[1], "tier_c_threshold": thresholds[2],
        "declared_auc": declared.auc if declared else None,
        "declared_lift_top_vs_bottom": declared.lift_top_vs_bottom if declared else None,
        "declared_recall_top_30pct": declared.recall_top_30pct if declared else None,
        "target_list_warning": target_warning,
    }
    evaluation = pd.DataFrame([row])
    evaluation["cutoff_date"] = pd.to_datetime(evaluation["cutoff_date"])
    evaluation["target_list_warning"] = evaluation["target_list_warning"].astype("string")
    con.register("__eval", evaluation)
    write_scoring_table(con, "model_evaluation",
                        "SELECT * REPLACE (CAST(cutoff_date AS DATE) AS cutoff_date) FROM __eval")
    con.unregister("__eval")
    gain = result.gain if len(result.gain) else pd.DataFrame(
        {"share_contacted": pd.Series(dtype=float), "share_converted": pd.Series(dtype=float),
         "lift": pd.Series(dtype=float)})
    con.register("__gain", gain.assign(model_version=card.version))
    write_scoring_table(con, "model_evaluation_gain", "SELECT * FROM __gain", order_by="share_contacted")
    con.unregister("__gain")
    tiers = result.tier_rates if len(result.tier_rates) else pd.DataFrame(
        {"tier": bt.TIERS, "n_test": 0, "n_positive": 0, "conversion_rate": np.nan})
    tiers = tiers.assign(model_version=card.version)
    con.register("__tiers", tiers)
    write_scoring_table(con, "model_evaluation_tiers", "SELECT * FROM __tiers")
    con.unregister("__tiers")
