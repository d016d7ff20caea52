"""ICP segments as rules in words: a shallow decision tree over pre-sale attributes, read back as labels.

Categories are ordered by their ideal rate before the tree sees them, so that every split on a category
reads as a set ("industry in (Logistics, Manufacturing)"). Every account lands in exactly one leaf. A segment is
called icp or anti_icp only with evidence from accounts the tree did not learn from (segment_table).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom
from sklearn.tree import DecisionTreeClassifier

from pipelines.config import Config
from pipelines.icp.attributes import Encoding, LevelCodes
from pipelines.icp.labels import is_customer

CATEGORIES = ["industry", "region", "lead_source"]
NUMBERS = ["employee_count", "annual_revenue"]


@dataclass
class SegmentModel:
    """The fitted tree and what is needed to read and apply it."""

    tree: DecisionTreeClassifier
    columns: list[str]
    codes: dict[str, dict[str, int]]      # category -> level -> ordinal code
    technologies: list[str]
    has_missing: dict[str, bool]
    labels: dict[int, str]                # node id (leaves and inner nodes) -> the rule of its path in words
    paths: dict[int, list[tuple[str, str, float]]]  # node id -> the conditions of its path (column, <= or >, value)


def _design(frame: pd.DataFrame, codes: dict[str, dict[str, int]], technologies: list[str]) -> pd.DataFrame:
    """The tree's inputs: category codes, numbers (-1 when unknown) and the 0/1 column `tech:<name>` of every
    technology, which `frame` carries."""
    X = pd.DataFrame(index=frame.index)
    for c in CATEGORIES:
        X[c] = frame[c].map(codes[c]).fillna(-1).astype(float)
    for c in NUMBERS:
        X[c] = frame[c].astype(float).fillna(-1.0)
    for t in technologies:
        X[f"tech:{t}"] = frame[f"tech:{t}"].astype(float)
    return X


def fit_segments(train: pd.DataFrame, y: np.ndarray, technologies: list[str], everyone: pd.DataFrame,
                 max_depth: int, min_share: float, seed: int) -> SegmentModel:
    """Fit the tree on labelled accounts (CATEGORIES, NUMBERS and a `tech:<name>` flag per technology);
    `everyone` tells which columns have unknown values to mention."""
    y = np.asarray(y, dtype=int)
    codes = {}
    for c in CATEGORIES:
        rate = pd.Series(y, index=train.index).groupby(train[c]).agg(["mean", "size"])
        prior = y.mean() if len(y) else 0.0
        smoothed = (rate["mean"] * rate["size"] + prior * 5) / (rate["size"] + 5)
        order = smoothed.sort_values(kind="mergesort").index.tolist()
        codes[c] = {level: i for i, level in enumerate(order)}
    X = _design(train, codes, technologies)
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=max(5, int(min_share * len(train))),
                                  random_state=seed)
    tree.fit(X, y)
    has_missing = {c: bool(everyone[c].isna().any()) for c in CATEGORIES + NUMBERS}
    model = SegmentModel(tree, list(X.columns), codes, technologies, has_missing, {}, {})
    _walk(model)
    return model


def assign(model: SegmentModel, frame: pd.DataFrame) -> np.ndarray:
    """The leaf (node id) each account falls in."""
    return model.tree.apply(_design(frame, model.codes, model.technologies))


def _fmt_number(column: str, x: float) -> str:
    if column == "annual_revenue":
        for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if abs(x) >= div:
                return f"${x / div:,.3g}{unit}"
    return f"{x:,.0f}"


def _walk(model: SegmentModel) -> None:
    """Fill the model's `paths` and `labels`: every node's conditions and the rule they make, in words."""
    t = model.tree.tree_

    def walk(node: int, conds: list[tuple[str, str, float]]) -> None:
        model.paths[node], model.labels[node] = conds, _describe(model, conds)
        if t.children_left[node] == -1:
            return
        col, thr = model.columns[t.feature[node]], float(t.threshold[node])
        walk(t.children_left[node], conds + [(col, "<=", thr)])
        walk(t.children_right[node], conds + [(col, ">", thr)])

    walk(0, [])


MAX_LISTED = 5  # a longer list of levels is shortened: "industry in (baby, books, ... 22 more)"


def _listed(levels: list[str]) -> str:
    """Levels in parentheses, sorted, the first MAX_LISTED and a count of the rest."""
    levels = sorted(levels)
    shown = levels if len(levels) <= MAX_LISTED + 1 else levels[:MAX_LISTED] + [f"... {len(levels) - MAX_LISTED} more"]
    return "(" + ", ".join(shown) + ")"


def _describe_category(model: SegmentModel, col: str, conditions: list[tuple[str, float]]) -> str:
    """One category's conditions in words. A missing value and a level the tree never saw share the code -1, so
    they satisfy the same conditions: "unknown" is spelled out when the column has missing values, "another
    <column>" otherwise. A list is never empty, and long lists are shortened."""
    def holds(code: int) -> bool:
        return all((code <= thr) if op == "<=" else (code > thr) for op, thr in conditions)

    codes = model.codes[col]
    allowed = [level for level, code in codes.items() if holds(code)]
    excluded = [level for level, code in codes.items() if not holds(code)]
    name = col.replace("_", " ")
    other = "unknown" if model.has_missing.get(col) else f"another {name}"
    if not holds(-1):
        return f"{name} in {_listed(allowed)}" if allowed and excluded else f"{name} known"
    if not excluded:
        return f"any {name}"
    if not allowed:
        return f"{name} unknown" if model.has_missing.get(col) else f"{name} not in {_listed(excluded)}"
    if len(allowed) < len(excluded):  # the shorter description reads better
        return f"{name} in {_listed(allowed)} or {other}"
    return f"{name} not in {_listed(excluded)}" + (" or unknown" if model.has_missing.get(col) else "")


def _describe(model: SegmentModel, conds: list[tuple[str, str, float]]) -> str:
    parts = []
    for col in dict.fromkeys(c for c, _, _ in conds):
        mine = [(op, thr) for c, op, thr in conds if c == col]
        if col.startswith("tech:"):
            name = col[5:]
            parts.append(f"uses {name}" if mine[-1][0] == ">" else f"no {name}")
        elif col in CATEGORIES:
            parts.append(_describe_category(model, col, mine))
        else:
            lows = [np.floor(thr) + 1 for op, thr in mine if op == ">"]
            highs = [np.floor(thr) + 1 for op, thr in mine if op == "<="]
            lo, hi = (max(lows) if lows else None), (min(highs) if highs else None)
            if lo is not None and lo <= 0:
                lo = None
            text = (f"{_fmt_number(col, lo)} <= {col} < {_fmt_number(col, hi)}" if lo is not None and hi is not None
                    else f"{col} >= {_fmt_number(col, lo)}" if lo is not None
                    else f"{col} < {_fmt_number(col, hi)}")
            if lo is None and model.has_missing.get(col):
                text += " (or unknown)"
            parts.append(text)
    return " and ".join(parts) if parts else "all accounts"


@dataclass(frozen=True)
class Rule:
    """A segment as a rule scoring can apply to any account: the conditions of its tree path over the tree's inputs
    (a category by its ordinal `codes`, unknown or unseen -1; a number, unknown -1; `tech:<name>` 0 or 1), tried in
    `order` (the first rule an account meets is its segment), and in words."""

    order: int
    label: str
    conditions: list[tuple[str, str, float]]
    codes: dict[str, dict[str, int]]


@dataclass
class Segments:
    """The segment table (statistics, evidence and kind of each segment, indexed by its key), the key of every
    account the segments were learned on, and each segment's rule."""

    table: pd.DataFrame
    leaves: np.ndarray
    rules: dict[int, Rule]


def segment_table(features: pd.DataFrame, codes: LevelCodes, y: pd.Series, labels: pd.DataFrame, enc: Encoding,
                  cfg: Config, left_out: list[str]) -> Segments:
    """The segments of the accounts in `features` (with their `held_out` flag), found on the labelled accounts
    outside the held-out half and tested on the held-out half, which the search never saw, so that it cannot fake
    the evidence (see _cover and segment_kinds). The attributes `left_out` by the leakage guard are blanked: no rule
    can use them. The table's counts are of these accounts; scoring counts every account in each segment."""
    labelled = y.notna().to_numpy()
    held_out = features["held_out"].to_numpy(dtype=bool)
    inputs = features[CATEGORIES + NUMBERS].assign(**{c: np.nan for c in left_out}, **{
        f"tech:{t}": codes.has(f"tech_{i}", f"uses {t}") for i, t in enumerate(enc.technologies)})
    f = pd.DataFrame({"is_customer": is_customer(features).to_numpy(),
                      "won": features["won_deals"].fillna(0).to_numpy(),
                      "lost": features["lost_deals"].fillna(0).to_numpy(),
                      "churned": features["is_churned"].astype("boolean").fillna(False).to_numpy(dtype=bool),
                      "held_out": held_out}, index=features.index)
    f["is_ideal"] = labels["is_ideal"].reindex(f.index).astype("boolean").fillna(False).astype(bool)
    f["is_bad"] = labels["is_bad_fit"].reindex(f.index).astype("boolean").fillna(False).astype(bool)
    f["value_index"] = labels["value_index"].reindex(f.index)
    leaves, rules = _cover(inputs, y, labelled & ~held_out, f, list(enc.technologies), cfg)
    f["leaf"] = leaves
    g = f.groupby("leaf")
    seg = pd.DataFrame({
        "n_customers": g["is_customer"].sum(), "n_ideal": g["is_ideal"].sum(),
        "won": g["won"].sum(), "closed": g["won"].sum() + g["lost"].sum(), "churned": g["churned"].sum(),
        "bad": g["is_bad"].sum(), "avg_value_index": g["value_index"].mean(),
    })
    seg["ideal_rate"] = seg["n_ideal"] / seg["n_customers"].replace(0, np.nan)
    overall = seg["n_ideal"].sum() / max(seg["n_customers"].sum(), 1)
    seg["lift"] = seg["ideal_rate"] / overall if overall > 0 else np.nan
    seg["win_rate"] = seg["won"] / seg["closed"].replace(0, np.nan)
    seg["churn_rate"] = seg["churned"] / seg["n_customers"].replace(0, np.nan)
    seg["kind"], seg["p_value"] = segment_kinds(seg, f[f["held_out"]], cfg)
    seg["segment_label"] = [rules[leaf].label for leaf in seg.index]
    seg["rule_order"] = [rules[leaf].order for leaf in seg.index]
    return Segments(seg, leaves, {leaf: rules[leaf] for leaf in seg.index})


MAX_ICPS = 3  # a company has one to three ICPs
ROUND = 1_000_000  # leaf ids of the k-th search start at k x ROUND (tree node ids are far smaller)


def _cover(inputs: pd.DataFrame, y: pd.Series, learn: np.ndarray, f: pd.DataFrame, technologies: list[str],
           cfg: Config) -> tuple[np.ndarray, dict[int, Rule]]:
    """Every account's segment (a leaf id) and each segment's rule, found one ICP at a time.

    A tree is fitted on the `learn` accounts; of its nodes (each a rule: the conditions on its path), the one with
    the strongest significant evidence of an ICP on the held-out accounts (segment_kinds' icp test) becomes a
    segment, and the search starts again on the accounts outside it, up to MAX_ICPS times; the leaves of the last
    tree split the rest. A node above the leaves is chosen when its evidence is stronger: the rule as general as
    the evidence allows. So two distinct ICPs (say, one industry-and-technology rule and one region-and-size rule)
    each get their own segment, where one shallow tree would split both. An account that fits two rules belongs
    to the segment found first."""
    leaves, rules = np.full(len(inputs), -1, dtype=np.int64), {}
    rest = np.ones(len(inputs), dtype=bool)
    customers, held_customers = f["is_customer"], f["is_customer"] & f["held_out"]
    overall = (f.loc[customers, "is_ideal"].mean(), f.loc[held_customers, "is_ideal"].mean())
    for k in range(MAX_ICPS + 1):
        fit_on = learn & rest
        if y[fit_on].nunique() < 2:
            leaves[rest] = k * ROUND
            rules[k * ROUND] = Rule(len(rules), "all accounts" if k == 0 else "every other account", [], {})
            break
        model = fit_segments(inputs[fit_on], y[fit_on].to_numpy(), technologies, inputs,
                             cfg.model.max_segment_depth, cfg.model.min_segment_share, cfg.model.seed)
        paths = model.tree.decision_path(_design(inputs[rest], model.codes, model.technologies)).tocsc()
        best = _strongest_icp(paths, f[rest], overall, cfg) if k < MAX_ICPS else None
        if best is None:
            leaves[rest] = assign(model, inputs[rest]) + k * ROUND
            for node in np.flatnonzero(model.tree.tree_.children_left == -1):
                rules[node + k * ROUND] = Rule(len(rules), model.labels[node], model.paths[node], model.codes)
            break
        chosen = np.flatnonzero(rest)[paths[:, best].toarray().ravel() > 0]
        leaves[chosen] = best + k * ROUND
        rules[best + k * ROUND] = Rule(len(rules), model.labels[best], model.paths[best], model.codes)
        rest[chosen] = False
    return leaves, rules


def _strongest_icp(paths, f: pd.DataFrame, overall: tuple[float, float], cfg: Config) -> int | None:
    """Of the tree's nodes below the root (`paths`: accounts x nodes, 1 where an account's path passes the node),
    the one with the smallest held-out p-value among those that pass the icp test of segment_kinds (lift against
    the overall ideal rate, significance against the held-out one: `overall`), or None."""
    customer, ideal = f["is_customer"].to_numpy(dtype=float), f["is_ideal"].to_numpy(dtype=float)
    held = f["held_out"].to_numpy(dtype=float)
    nodes = np.arange(1, paths.shape[1])
    passes, p = icp_test(*((paths.T @ v)[nodes] for v in (customer, ideal, customer * held, ideal * held)),
                         overall, len(nodes), cfg)
    return int(nodes[passes][np.argsort(p[passes], kind="mergesort")[0]]) if passes.any() else None


def icp_test(customers: np.ndarray, ideals: np.ndarray, held_customers: np.ndarray, held_ideals: np.ndarray,
             overall: tuple[float, float], tests: int, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Which candidate segments pass the icp test, and their p-values: at least model.segment_min_customers
    customers, an ideal rate at least MIN_ICP_LIFT times `overall[0]` (all accounts'), and significantly above
    `overall[1]` on the held-out accounts (one-sided binomial test, p below (1 - model.confidence) / `tests`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = ideals / customers / overall[0]
    p = binom.sf(held_ideals - 1, held_customers, overall[1])
    alpha = (1 - cfg.model.confidence) / max(tests, 1)
    return (customers >= cfg.model.segment_min_customers) & (lift >= MIN_ICP_LIFT) & (p < alpha), p


MIN_ICP_LIFT = 1.25  # an icp segment's ideal rate is at least this many times the overall rate
MAX_ANTI_LIFT = 0.5  # an anti_icp segment's is at most this many times


def segment_kinds(seg: pd.DataFrame, held_out: pd.DataFrame, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Each segment's kind and the p-value of the test that decided it, on the `held_out` accounts (one row each:
    leaf, is_customer, is_ideal, is_bad, won, lost).

    icp: icp_test against the overall ideal rates. anti_icp: an ideal rate at most MAX_ANTI_LIFT times the
    overall one, and either significantly rarely buying (win rate at most half the other segments', on at least
    segment_min_customers closed deals) or significantly often a bad fit (at least 40% and twice the overall rate,
    on at least segment_min_customers customers). Significant: p below (1 - model.confidence) / the number of
    segments (Bonferroni). Otherwise neutral, with the smallest of its p-values.
    """
    held_out = held_out.groupby("leaf")
    h = pd.DataFrame({"customers": held_out["is_customer"].sum(), "ideal": held_out["is_ideal"].sum(),
                      "won": held_out["won"].sum(), "closed": held_out["won"].sum() + held_out["lost"].sum(),
                      "bad": held_out["is_bad"].sum()}).reindex(seg.index, fill_value=0)
    alpha = (1 - cfg.model.confidence) / max(len(seg), 1)
    enough_customers = seg["n_customers"] >= cfg.model.segment_min_customers
    overall = (seg["n_ideal"].sum() / max(seg["n_customers"].sum(), 1), h["ideal"].sum() / max(h["customers"].sum(), 1))
    passes, p_high = icp_test(*(c.to_numpy(dtype=float) for c in (seg["n_customers"], seg["n_ideal"], h["customers"],
                                                                 h["ideal"])), overall, len(seg), cfg)
    is_icp = pd.Series(passes, index=seg.index)
    rest_win = h.loc[~is_icp, "won"].sum() / max(h.loc[~is_icp, "closed"].sum(), 1)
    rest_win_all = seg.loc[~is_icp, "won"].sum() / max(seg.loc[~is_icp, "closed"].sum(), 1)
    p_rare = binom.cdf(h["won"], h["closed"], rest_win)
    rarely_buys = ((seg["closed"] >= cfg.model.segment_min_customers)
                   & (seg["win_rate"].fillna(1) <= 0.5 * rest_win_all) & (p_rare < alpha))
    bad_rate = h["bad"].sum() / max(h["customers"].sum(), 1)
    bad_rate_all = seg["bad"].sum() / max(seg["n_customers"].sum(), 1)
    p_bad = binom.sf(h["bad"] - 1, h["customers"], bad_rate)
    often_bad = (enough_customers & (seg["bad"] / seg["n_customers"].replace(0, np.nan)
                                     >= max(0.4, 2 * bad_rate_all)).fillna(False) & (p_bad < alpha))
    is_anti = ~is_icp & (seg["lift"].fillna(0) <= MAX_ANTI_LIFT) & (rarely_buys | often_bad)
    kind = np.select([is_icp, is_anti], ["icp", "anti_icp"], default="neutral")
    p_anti = np.minimum(np.where(rarely_buys, p_rare, 1.0), np.where(often_bad, p_bad, 1.0))
    p_value = np.select([is_icp, is_anti], [p_high, p_anti], default=np.minimum(p_high, np.minimum(p_rare, p_bad)))
    return kind, p_value
