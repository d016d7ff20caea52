"""ICP model units on small hand-made frames: labels, scorecard arithmetic, segments, tiers, backtest metrics."""
from __future__ import annotations

import math
import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.config import Config, DeclaredICP, ScoreScaleConfig
from pipelines.icp import backtest as bt
from pipelines.icp.attributes import FEATURES, Encoding, _nice, level_codes, supervised_edges
from pipelines.icp.labels import label_customers
from pipelines.icp.scorecard import (combine, declared_size_rule, design, distinct_rows, fit_declared, fit_design,
                                     score)
from pipelines.icp.segments import assign, fit_segments


def _customers(n: int = 10) -> pd.DataFrame:
    rng = np.arange(n)
    return pd.DataFrame({
        "invoices": 4, "subscriptions": 1, "lifetime_paid_revenue": rng * 1000.0, "won_amount": 0.0,
        "current_arr": rng * 500.0, "expansion_won_amount": 0.0, "tenure_months": 12.0, "is_churned": False,
        "expansion_revenue": 0.0, "paid_share": 1.0, "uncollectible_invoices": 0, "current_mrr": rng * 40.0 + 10,
        "mrr_12m_ago": rng * 40.0 + 10, "tickets_per_month": 0.1, "tickets": 1, "months_to_churn": np.nan,
    })


def test_value_index_orders_by_revenue_and_top_share_is_ideal() -> None:
    labels = label_customers(_customers(10), Config())
    assert labels["value_index"].between(0, 100).all()
    assert labels["value_index"].is_monotonic_increasing
    assert labels["is_ideal"].tolist() == [False] * 7 + [True] * 3  # top 30%


def test_bad_fit_rules() -> None:
    c = _customers(6)
    c.loc[0, ["is_churned", "months_to_churn"]] = [True, 2.0]          # early churn
    c.loc[1, "tickets_per_month"] = 50.0                                # heavy support for its revenue
    c.loc[2, "paid_share"] = 0.5                                        # payment trouble
    c.loc[3, "uncollectible_invoices"] = 1                              # payment trouble
    c.loc[5, "tenure_months"] = 1.0                                     # too young to be ideal
    labels = label_customers(c, Config())
    assert labels["bad_fit_reason"].tolist()[:4] == ["early churn", "heavy support for its revenue",
                                                      "payment trouble", "payment trouble"]
    assert not labels.loc[[4, 5], "is_bad_fit"].any()
    assert not labels.loc[labels["is_bad_fit"], "is_ideal"].any()
    assert not labels.loc[5, "is_ideal"]


def _features_db(n: int = 400, seed: int = 0) -> duckdb.DuckDBPyConnection:
    """A small account_features table where Logistics with 200+ employees is what makes an ideal customer."""
    rng = np.random.default_rng(seed)
    industry = rng.choice(["Logistics", "Retail", "Software"], n)
    employees = rng.integers(5, 3000, n)
    techs = np.where(rng.random(n) < 0.5, "Snowflake;AWS", "AWS")
    ideal = (industry == "Logistics") & (employees >= 200)
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS scoring; CREATE SCHEMA marts")  # as warehouse() and dbt make them
    frame = pd.DataFrame({"account_id": [f"A{i:04d}" for i in range(n)], "account_name": "Acme", "industry": industry,
                          "employee_count": employees, "annual_revenue": rng.integers(1, 500, n) * 1e6,
                          "region": "NA", "lead_source": "inbound", "technologies": techs, "ideal": ideal})
    con.register("f", frame)
    con.execute("CREATE TABLE marts.account_features AS SELECT * FROM f")
    return con


ENC = Encoding(industries=("Logistics", "Retail", "Software"), regions=("NA",), lead_sources=("inbound",),
               technologies=("Snowflake", "AWS"), employee_edges=(200.0,), revenue_edges=())


def test_scorecard_points_sum_to_the_score_and_ranking_follows_the_label() -> None:
    con = _features_db()
    codes = level_codes(con, ENC, None, FEATURES)
    d = design(codes, ENC, np.arange(len(codes.codes)))
    y = con.execute("SELECT ideal FROM marts.account_features ORDER BY account_id").df()["ideal"].to_numpy(int)
    card = fit_design(d, y, ENC, regularisation=1.0)
    anchors = ScoreScaleConfig(anchor_score=50, anchor_odds=1.0, points_to_double_odds=4)  # no score clipped here
    fit = score(card, codes, anchors)
    ideal = y.astype(bool)
    assert ((fit.fit_score >= 0) & (fit.fit_score <= 100)).all()
    assert np.allclose(fit.fit_score, fit.scale.baseline + fit.points.sum(axis=1) * fit.scale.factor, atol=0.01)
    # A fixed scale: an account's score does not depend on which others are scored with it, and the anchor holds.
    assert np.array_equal(score(card, codes, anchors, np.arange(10)).fit_score, fit.fit_score[:10])
    logit = np.log(fit.probability / (1 - fit.probability))
    assert np.allclose(fit.fit_score, np.clip(50 + 4 / np.log(2) * logit, 0, 100), atol=0.01)
    assert fit.fit_score[ideal].min() > fit.fit_score[~ideal].max()
    assert card.version == fit_design(d, y, ENC, 1.0).version  # deterministic


def test_fit_on_distinct_patterns_equals_the_fit_on_every_account() -> None:
    """Accounts that share every level and the label collapse into one weighted row: same points, fewer rows."""
    codes = level_codes(_features_db(), ENC, None, FEATURES)
    everyone = np.arange(len(codes.codes))
    y = (codes.codes[:, 0] == 0).astype(int) ^ (everyone % 7 == 0)  # mostly the industry, with some noise
    rows, labels, weight = distinct_rows(codes, ENC, everyone, y)
    assert len(rows) < len(everyone) and weight.sum() == len(everyone)
    full = fit_design(design(codes, ENC, everyone), y, ENC, 1.0)
    reduced = fit_design(design(codes, ENC, rows), labels, ENC, 1.0, weight)
    assert reduced.n_train == full.n_train == len(everyone)
    merged = full.points.merge(reduced.points, on=["grp", "level"])
    assert len(merged) == len(full.points) and np.allclose(merged["raw_x"], merged["raw_y"], atol=1e-5)
    assert reduced.intercept == pytest.approx(full.intercept, abs=1e-5)


def test_the_fit_reaches_the_optimum_of_the_one_hot_regression() -> None:
    """The contrasts fit gives every account the log-odds of the one-hot L2 logistic regression solved to a tight
    tolerance; accounts that all share their levels get the intercept alone."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    codes = level_codes(_features_db(), ENC, None, FEATURES)
    everyone = np.arange(len(codes.codes))
    y = (codes.codes[:, 0] == 0).astype(int) ^ (everyone % 7 == 0)
    d = design(codes, ENC, everyone)
    card = fit_design(d, y, ENC, 1.0)
    fit = score(card, codes, Config().scoring.scale)
    onehot = sparse.hstack([sparse.csr_matrix(np.eye(len(c))[d.columns[:, j]]) for j, c in enumerate(d.categories)])
    optimum = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(onehot, y)
    assert np.allclose(card.intercept + fit.raw, optimum.decision_function(onehot), atol=1e-4)

    same = np.flatnonzero((codes.codes == codes.codes[0]).all(axis=1))
    labels = (np.arange(len(same)) % 3 == 0).astype(int)
    card = fit_design(design(codes, ENC, same), labels, ENC, 1.0)
    assert len(same) >= 3 and (card.points["raw"] == 0).all()
    assert card.intercept == pytest.approx(math.log(labels.mean() / (1 - labels.mean())))


def test_supervised_bands_are_those_of_a_tree_over_every_account() -> None:
    """Band edges come from a tree over distinct (size, label) pairs weighted by their accounts: the same cuts as
    a tree over every account, with the same smallest band."""
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 400, 5000).astype(float) * 10
    labels = ((sizes > 1200) & (sizes < 3000)).astype(int) ^ (rng.random(5000) < 0.2)
    sizes[::50] = np.nan
    known = ~np.isnan(sizes)
    tree = DecisionTreeClassifier(max_leaf_nodes=6, min_samples_leaf=int(0.04 * known.sum()), random_state=0)
    tree.fit(sizes[known].reshape(-1, 1), labels[known])
    cuts = tree.tree_.threshold[tree.tree_.feature >= 0]
    expected = tuple(sorted({_nice(float(c)) for c in cuts if c > 0}))
    assert len(expected) >= 2 and supervised_edges(sizes, labels, 6, 0) == expected


def test_declared_icp_scores_rule_matches() -> None:
    con = _features_db(50)
    declared = DeclaredICP(industries=["Logistics"], employee_count=(200, None), technologies=["Snowflake"])
    codes = level_codes(con, ENC, declared_size_rule(declared), FEATURES)
    fit = score(fit_declared(declared, ENC), codes, Config().scoring.scale)
    df = con.execute("""SELECT industry = 'Logistics' AS a, employee_count >= 200 AS b,
                               technologies LIKE '%Snowflake%' AS c FROM marts.account_features ORDER BY account_id""").df()
    matches = df[["a", "b", "c"]].sum(axis=1)
    assert np.allclose(fit.fit_score, matches / 3 * 100, atol=0.01)  # a fixed scale: the share of criteria met


def test_segments_cover_every_account_once_and_read_as_rules() -> None:
    con = _features_db(600, seed=1)
    frame = con.execute("SELECT * FROM marts.account_features").df()
    frame["tech:Snowflake"] = frame["technologies"].str.contains("Snowflake")
    y = frame["ideal"].to_numpy(int)
    model = fit_segments(frame, y, ["Snowflake"], frame, max_depth=2, min_share=0.03, seed=0)
    leaves = assign(model, frame)
    assert set(leaves) == {node for node in model.labels if model.tree.tree_.children_left[node] == -1}
    best = max(set(leaves), key=lambda leaf: y[leaves == leaf].mean())
    assert y[leaves == best].mean() == 1.0
    assert model.labels[best].startswith("industry in (Logistics) and employee_count >= ")


def test_segment_labels_never_list_nothing_spell_unknown_and_shorten_long_lists() -> None:
    """An industry known only for customers (filled in after the sale) splits unknown from known: the labels say
    "industry unknown", never "industry in ()"; thirty levels are listed as five and a count."""
    from pipelines.icp.segments import _describe_category

    rng = np.random.default_rng(3)
    levels = [f"ind{i:02d}" for i in range(30)]
    frame = pd.DataFrame({"industry": rng.choice(levels, 2000), "region": "NA", "lead_source": "inbound",
                          "employee_count": 100, "annual_revenue": 1e6})
    y = rng.random(2000) < 0.5
    frame.loc[~y, "industry"] = None  # known only for the accounts that bought
    model = fit_segments(frame, y.astype(int), [], frame, max_depth=2, min_share=0.03, seed=0)
    labels = set(model.labels.values())
    assert "industry unknown" in labels
    assert not any("()" in label for label in labels)
    assert _describe_category(model, "industry", [(">", -0.5)]) == "industry known"
    long = _describe_category(model, "industry", [(">", -0.5), ("<=", 20.5)])
    assert re.fullmatch(r"industry in \(ind\d\d, ind\d\d, ind\d\d, ind\d\d, ind\d\d, \.\.\. 16 more\)", long), long
    other = _describe_category(model, "industry", [("<=", 20.5)])
    assert other.startswith("industry not in (") and other.endswith(", ... 4 more) or unknown"), other


def test_tiers_from_customer_thresholds() -> None:
    customers = pd.Series(np.arange(100, dtype=float))
    thresholds = bt.tier_thresholds(customers, [0.25, 0.25, 0.25])
    tiers = bt.tier_of(customers, thresholds)
    assert [int((tiers == t).sum()) for t in bt.TIERS] == [25, 25, 25, 25]
    assert list(bt.tier_of([100.0, -1.0], thresholds)) == ["A", "D"]


def test_backtest_metrics() -> None:
    scores = np.array([90, 80, 70, 60, 50, 40, 30, 20, 10, 5], dtype=float)
    won = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], dtype=bool)
    valuable = np.array([1, np.nan, 0, 0, 1, 0, 0, 0, 0, 0])  # the second is too young to judge
    revenue = np.array([100, 50, 30, 0, 20, 0, 0, 0, 0, 0], dtype=float)
    tiers = bt.tier_of(scores, [75, 45, 25])
    listed = np.where(np.arange(10) == 0, -np.inf, scores)  # the list would have left out the best one
    res = bt.evaluate(scores, scores / 100, tiers, listed, bt.Outcomes(won, valuable, revenue), 0.95)
    assert res.auc == pytest.approx(23 / 24) and res.conversion.low < res.auc < res.conversion.high
    assert res.value_auc == pytest.approx(12 / 14) and res.n_value_known == 9 and res.n_valuable == 2
    assert res.top_tier_rate == 1.0 and res.bottom_tier_rate == 0.0
    assert res.lift_top_vs_bottom == pytest.approx(1.0 / (0.5 / 3))
    assert res.value_lift_top_vs_bottom == pytest.approx(1.0 / (0.5 / 3))
    assert res.revenue_share_top_tier == pytest.approx(150 / 200)
    assert res.n_excluded == 1 and res.excluded_conversion_rate == 1.0
    assert res.recall_top_30pct == pytest.approx(0.5)  # the list's top 3: 80, 70, 60 (90 left out)
    assert res.calibration["n"].sum() == 9


def test_auc_intervals_and_the_chance_warning_say_which_evidence_fails() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.2
    noise = bt.auc_interval(y, rng.random(400), 0.95)
    skill = bt.auc_interval(y, y + rng.random(400), 0.95)
    assert noise.low < 0.5 < noise.high and skill.low > 0.9
    result = bt.BacktestResult(cutoff=pd.NaT, conversion=noise, value=None)
    warning = bt.chance_warning(result, 0.5, 0.95)
    assert warning.startswith("MODEL NO BETTER THAN CHANCE") and "value not measurable" in warning
    assert bt.chance_warning(bt.BacktestResult(cutoff=pd.NaT, conversion=noise, value=skill), 0.5, 0.95) is None


def test_a_young_excellent_customer_can_be_ideal() -> None:
    """Value is measured per month of tenure: four months of the best revenue rate outrank years of a poor one."""
    c = _customers(10)
    c["lifetime_paid_revenue"] = c["current_mrr"] * 24  # two years at their MRR
    c["tenure_months"] = 24.0
    c.loc[9, ["tenure_months", "lifetime_paid_revenue"]] = [4.0, c.loc[9, "current_mrr"] * 4]
    labels = label_customers(c, Config())
    assert labels.loc[9, "is_ideal"]


def test_fit_probability_is_the_product_of_the_win_and_ideal_parts() -> None:
    codes = level_codes(_features_db(), ENC, None, FEATURES)
    d = design(codes, ENC, np.arange(len(codes.codes)))
    y_win = (codes.codes[:, 0] != 2).astype(int)
    y_ideal = (codes.codes[:, 1] == 2).astype(int)
    win, ideal = fit_design(d, y_win, ENC, 1.0), fit_design(d, y_ideal, ENC, 1.0)
    both = combine([win, ideal])
    anchors = Config().scoring.scale
    expected = score(win, codes, anchors).probability * score(ideal, codes, anchors).probability
    assert np.allclose(score(both, codes, anchors).probability, expected)


def test_segments_from_noise_are_neutral() -> None:
    """Shuffled attributes: the tree still finds leaves, but no icp or anti_icp segment survives the held-out test."""
    from pipelines.icp.segments import segment_table

    rng = np.random.default_rng(3)
    n = 4000
    con = _features_db(n, seed=3)
    codes = level_codes(con, ENC, None, FEATURES)
    features = con.execute("SELECT industry, employee_count, annual_revenue, region, lead_source FROM "
                           "marts.account_features ORDER BY account_id").df()
    customer = rng.random(n) < 0.3
    features = features.assign(lifecycle=np.where(customer, "customer", "prospect"), is_churned=False,
                               held_out=rng.random(n) < 0.5,
                               won_deals=customer.astype(int), lost_deals=(~customer & (rng.random(n) < 0.5)).astype(int))
    ideal = customer & (rng.random(n) < 0.3)
    labels = pd.DataFrame({"is_ideal": ideal, "is_bad_fit": customer & (rng.random(n) < 0.1), "value_index": 50.0},
                          index=features.index)[customer]
    y = pd.Series(np.where(ideal, 2.0, np.where(customer, 1.0, np.where(features["lost_deals"] > 0, 0.0, np.nan))))
    seg = segment_table(features, codes, y, labels, ENC, Config(), []).table
    assert len(seg) > 1 and set(seg["kind"]) == {"neutral"}


def test_the_leakage_guard_notes_values_held_by_customers_only() -> None:
    from pipelines.config import Leakage
    from pipelines.icp.leakage import attribute_checks, warning

    n = 400
    lifecycle = np.where(np.arange(n) < 100, "customer", "prospect")
    lead = np.where(np.arange(n) < 40, "existing customer", np.where(np.arange(n) % 2, "web", "event"))
    features = pd.DataFrame({"industry": "Retail", "employee_count": 10, "annual_revenue": 1e6, "region": "NA",
                             "lead_source": lead, "is_customer": lifecycle == "customer", "is_lost": False})
    con = duckdb.connect()
    con.register("population", features)
    checks = attribute_checks(con, "population", Leakage()).set_index("attribute")
    assert checks.loc["lead_source", "customer_only_levels"] == "existing customer (40)"
    assert checks["used_in_fit"].all() and checks.loc["industry", "customer_only_levels"] is None
    assert warning(checks.reset_index()).startswith("values that occur among customers only, perhaps set by the "
                                                    "sale: lead_source = existing customer (40).")
