"""ICP segments as rules in words: a shallow decision tree over pre-sale attributes, read back as labels.

Categories are ordered by their ideal rate before the tree sees them, so that every split on a category
reads as a set ("industry in (Logistics, Manufacturing)"). Every account lands in exactly one leaf.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

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
    labels: dict[int, str]                # leaf node id -> rule in words


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
    model = SegmentModel(tree, list(X.columns), codes, technologies, has_missing, {})
    model.labels = _leaf_labels(model)
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


def _leaf_labels(model: SegmentModel) -> dict[int, str]:
    t = model.tree.tree_
    labels: dict[int, str] = {}

    def walk(node: int, conds: list[tuple[str, str, float]]) -> None:
        if t.children_left[node] == -1:
            labels[node] = _describe(model, conds)
            return
        col, thr = model.columns[t.feature[node]], float(t.threshold[node])
        walk(t.children_left[node], conds + [(col, "<=", thr)])
        walk(t.children_right[node], conds + [(col, ">", thr)])

    walk(0, [])
    return labels


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
