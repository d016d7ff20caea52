"""An additive fit scorecard: points per attribute level, learned (logistic regression) or declared.

fit_score = baseline + the sum of one contribution per attribute group, on a fixed scale (scoring.scale in
icp.yaml: the same odds give the same score in every refresh), clipped to 0..100. A learned card is the sum of two
logistic regressions, the odds of winning the account and the odds of it turning out ideal once won: fit_score is
linear in the sum of their log-odds, and `fit_probability` is the product of their probabilities,
P(win) x P(ideal | win).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

import duckdb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from pipelines.config import DeclaredICP, ScoreScaleConfig
from pipelines.icp.attributes import Encoding, Level, LevelCodes, level_exprs
from pipelines.sql import q
from pipelines.publish import write_scoring_table

@dataclass
class Scorecard:
    """Raw points (log-odds, centred on the training population) per attribute level."""

    kind: str                 # learned | declared
    encoding: Encoding
    points: pd.DataFrame      # columns: grp, level, raw
    defaults: dict[str, float]  # raw points of a level the model never saw, per group
    intercept: float          # log-odds of an account whose contributions are all zero
    n_train: int = 0
    parts: tuple["Scorecard", ...] = ()  # the cards whose points this one sums (see combine)

    @property
    def version(self) -> str:
        """A short, deterministic fingerprint of the model: the same data and config give the same version."""
        payload = json.dumps({"kind": self.kind, "points": self.points.round(6).values.tolist(),
                              "intercept": round(self.intercept, 6)}, default=str)
        return f"{self.kind}-{hashlib.sha1(payload.encode()).hexdigest()[:10]}"


def combine(cards: list[Scorecard]) -> Scorecard:
    """One scorecard whose points are the sum of several fitted on the same attributes.

    A level one card never saw counts as that card's unseen-level default.
    """
    if len(cards) == 1:
        return cards[0]
    enc = cards[0].encoding
    lookups = [{(g, lvl): raw for g, lvl, raw in c.points[["grp", "level", "raw"]].itertuples(index=False)}
               for c in cards]
    rows, defaults = [], {}
    for g in enc.groups:
        levels = sorted({lvl for lookup in lookups for (grp, lvl) in lookup if grp == g})
        for lvl in levels:
            rows.append((g, lvl, sum(lk.get((g, lvl), c.defaults.get(g, 0.0)) for lk, c in zip(lookups, cards))))
        defaults[g] = sum(c.defaults.get(g, 0.0) for c in cards)
    points = pd.DataFrame(rows, columns=["grp", "level", "raw"])
    return Scorecard("learned", enc, points, defaults, sum(c.intercept for c in cards),
                     n_train=max(c.n_train for c in cards), parts=tuple(cards))


@dataclass(frozen=True)
class Design:
    """Some accounts as the regressions see them: per attribute group, the levels those accounts have
    (`categories`, in level order) and each account's level among them (`columns`, an index into its group's)."""

    columns: np.ndarray           # (accounts, groups) int32
    categories: list[np.ndarray]  # per group, the labels of its levels


def contrasts(k: int) -> np.ndarray:
    """An orthonormal basis (k x k-1) of the coefficient vectors over k levels that sum to zero (Helmert's
    contrasts, normalised)."""
    basis = np.zeros((k, max(k - 1, 0)))
    for j in range(1, k):
        basis[:j, j - 1] = 1.0
        basis[j, j - 1] = -j
        basis[:, j - 1] /= np.sqrt(j * (j + 1))
    return basis


def fit_design(d: Design, y: np.ndarray, enc: Encoding, regularisation: float,
               weight: np.ndarray | None = None) -> Scorecard:
    """L2-penalised logistic regression with a coefficient per level of every group, each row standing for `weight`
    accounts (one when None); each group's points are centred on the training mean.

    At the optimum a group's coefficients sum to zero: adding a constant to them and its opposite to the intercept
    leaves the loss as it is and only changes the penalty. So the fit runs over sum-to-zero contrasts in an
    orthonormal basis, where the penalty is the same: the same optimum, without the flat directions of a one-hot
    design. Newton's method reaches it in a few steps (lbfgs on the one-hot design stopped up to 0.5 log-odds away
    at its default tolerance), and draws nothing at random: the fit takes no seed."""
    weight = np.ones(len(y)) if weight is None else weight
    bases = [contrasts(len(cats)) for cats in d.categories]
    X = _in_contrasts(d, bases)
    if X.shape[1]:
        model = LogisticRegression(C=regularisation, solver="newton-cholesky", tol=1e-6)
        model.fit(X, y, sample_weight=weight)
        theta, intercept = model.coef_[0], float(model.intercept_[0])
    else:  # every account has the same levels: the intercept alone
        share = float(np.average(y, weights=weight))
        theta, intercept = np.zeros(0), float(np.log(share / (1 - share)))
    blocks = np.split(theta, np.cumsum([basis.shape[1] for basis in bases])[:-1])  # each group's contrasts
    rows, defaults = [], {}
    for j, (g, cats, basis, block) in enumerate(zip(enc.groups, d.categories, bases, blocks)):
        w = basis @ block
        freq = np.bincount(d.columns[:, j], weights=weight, minlength=len(cats)) / max(weight.sum(), 1)
        mean = float((w * freq).sum())
        intercept += mean
        defaults[g] = -mean
        rows += [(g, str(c), float(v - mean)) for c, v in zip(cats, w)]
    points = pd.DataFrame(rows, columns=["grp", "level", "raw"])
    return Scorecard("learned", enc, points, defaults, intercept, n_train=int(weight.sum()))


def _in_contrasts(d: Design, bases: list[np.ndarray]) -> np.ndarray:
    """The design's accounts as rows of their levels' contrasts, one block of columns per group (`bases`)."""
    ends = np.cumsum([basis.shape[1] for basis in bases])
    X = np.empty((len(d.columns), ends[-1] if len(ends) else 0))
    for j, (basis, end) in enumerate(zip(bases, ends)):
        np.take(basis, d.columns[:, j], axis=0, out=X[:, end - basis.shape[1]:end])
    return X


def distinct_rows(codes: LevelCodes, enc: Encoding, rows: np.ndarray, y: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The accounts at `rows` (labels `y`, 0 or 1) reduced to one per distinct pattern of levels and label: its
    first row, its label and how many accounts share it. A logistic fit weighted by these counts has exactly the
    loss of a fit over every account, on fewer rows (a third fewer at a million accounts)."""
    columns = codes.of(enc.groups, rows).astype(np.int64)
    try:
        key = np.ravel_multi_index((*columns.T, y), [len(codes.labels[g]) for g in enc.groups] + [2])
    except ValueError:  # more level combinations than one integer can number: fit on every account
        return rows, y, np.ones(len(rows))
    _, first, weight = np.unique(key, return_index=True, return_counts=True)
    return rows[first], y[first], weight.astype(float)


def design(codes: LevelCodes, enc: Encoding, rows: np.ndarray) -> Design:
    """The design of the accounts at positions `rows`: per attribute group, the levels those accounts have and
    each account's level among them."""
    levels = codes.of(enc.groups, rows)
    columns = np.empty(levels.shape, dtype=np.int32)
    categories = []
    for j, g in enumerate(enc.groups):
        labels = codes.labels[g]
        present = np.flatnonzero(np.bincount(levels[:, j], minlength=len(labels)))
        index = np.full(len(labels), -1, dtype=np.int32)
        index[present] = np.arange(len(present), dtype=np.int32)
        columns[:, j] = index[levels[:, j]]
        categories.append(np.asarray([labels[i] for i in present], dtype=object))
    return Design(columns, categories)


def fit_declared(declared: DeclaredICP, enc: Encoding) -> Scorecard:
    """Transparent rules from icp.yaml: each declared criterion an account meets adds equal points."""
    criteria = []
    if declared.industries:
        criteria.append(("industry", [f"industry = {v}" for v in declared.industries]))
    if declared.regions:
        criteria.append(("region", [f"region = {v}" for v in declared.regions]))
    rows = []
    for grp, wanted in criteria:
        rows += [(grp, level, 1.0) for level in wanted]
    techs = {t.lower() for t in declared.technologies}
    for i, tech in enumerate(enc.technologies):
        if tech.lower() in techs:
            rows.append((f"tech_{i}", f"uses {tech}", 1.0))
    size = declared_size_rule(declared)
    if size:
        rows.append(("declared_size", size.label, 1.0))
    points = pd.DataFrame(rows, columns=["grp", "level", "raw"])
    return Scorecard("declared", enc, points, {}, 0.0)


def declared_size_rule(declared: DeclaredICP | None) -> Level | None:
    """The declared ICP's company-size rule as a level (`range` over employee_count), if it has one."""
    if declared is None or not declared.employee_count:
        return None
    lo, hi = declared.employee_count
    label = f"{lo or 0:,}-{hi:,} employees" if hi else f"{lo:,}+ employees"
    return Level(label, "range", "employee_count", low=lo, high=hi)


def scored_groups(card: Scorecard) -> list[str]:
    """The attribute groups a card scores: the encoding's, and the declared size rule when it has one."""
    return list(card.encoding.groups) + (["declared_size"] if (card.points["grp"] == "declared_size").any() else [])


@dataclass(frozen=True)
class ScoreScale:
    """The linear map from raw points to fit_score: fit_score = baseline + raw points x factor, clipped to 0..100."""

    factor: float
    baseline: float  # the score of an account whose points sum to zero


def scale_of(card: Scorecard, anchors: ScoreScaleConfig) -> ScoreScale:
    """A learned card's fixed scale: anchors.anchor_score at anchors.anchor_odds (of the card's log-odds, intercept
    included), points_to_double_odds more each time the odds double. A declared card: 100 x the share of its
    criteria met. A uniform card: 50 for everyone."""
    if card.kind == "learned":
        factor = anchors.points_to_double_odds / float(np.log(2))
        return ScoreScale(factor, anchors.anchor_score + factor * (card.intercept - float(np.log(anchors.anchor_odds))))
    criteria = card.points["grp"].nunique()
    return ScoreScale(100.0 / criteria, 0.0) if criteria else ScoreScale(0.0, 50.0)


@dataclass
class Scores:
    """A card applied to a set of accounts: every account's raw points per group, and what follows from them."""

    groups: list[str]
    points: np.ndarray  # (accounts, groups) raw points
    scale: ScoreScale
    probability: np.ndarray  # fit_probability: the product of the parts' probabilities

    @cached_property
    def raw(self) -> np.ndarray:
        return self.points.sum(axis=1)

    @property
    def fit_score(self) -> np.ndarray:
        return np.clip(np.round(self.scale.baseline + self.raw * self.scale.factor, 2), 0.0, 100.0)


def level_points(card: Scorecard, group: str, labels: list[str]) -> list[float]:
    """The card's raw points of each of the `labels` (levels of `group`; a level it never saw: the group's
    default)."""
    lookup = {lvl: float(raw) for lvl, raw in card.points.loc[card.points["grp"] == group, ["level", "raw"]]
              .itertuples(index=False)}
    return [lookup.get(label, card.defaults.get(group, 0.0)) for label in labels]


def _level_points(card: Scorecard, codes: LevelCodes, group: str, rows: np.ndarray | None) -> np.ndarray:
    """The card's raw points of each account's level in `group`."""
    per_level = np.array(level_points(card, group, codes.labels[group]), dtype=float)
    c = codes.codes[:, codes.groups.index(group)]
    return per_level[c if rows is None else c[rows]]


def score(card: Scorecard, codes: LevelCodes, anchors: ScoreScaleConfig, rows: np.ndarray | None = None) -> Scores:
    """Apply the card to the accounts at positions `rows` (all when None): a points lookup per group, on the card's
    fixed scale (scale_of)."""
    groups = scored_groups(card)
    n = len(codes.codes) if rows is None else len(rows)
    points = (np.column_stack([_level_points(card, codes, g, rows) for g in groups]) if groups
              else np.zeros((n, 0)))
    probability = np.ones(n)
    for part in card.parts or (card,):
        logit = part.intercept + sum((_level_points(part, codes, g, rows) for g in scored_groups(part)), np.zeros(n))
        probability *= 1 / (1 + np.exp(-logit))
    return Scores(groups, points, scale_of(card, anchors), probability)


def write_scorecard(con: duckdb.DuckDBPyConnection, card: Scorecard, scale: ScoreScale,
                    declared: DeclaredICP | None = None) -> None:
    """Publishable scorecard tables: scoring.fit_attributes (each attribute, the SQL that gives an account's
    level from account_features, and the points of a level the model never saw) and scoring.fit_scorecard
    (the fit points of every level). With an account's fit_baseline they rebuild its fit_score exactly (before the
    clip to 0..100)."""
    size = declared_size_rule(declared) if "declared_size" in scored_groups(card) else None
    exprs = level_exprs(card.encoding, size)
    names = {"industry": "industry", "employees": "employees", "revenue": "annual revenue", "region": "region",
             "lead_source": "lead source", "declared_size": "declared company size"}
    names.update({f"tech_{i}": f"technology: {t}" for i, t in enumerate(card.encoding.technologies)})
    k = scale.factor
    attrs = [(g, names[g], exprs[g], float(card.defaults.get(g, 0.0)) * k) for g in scored_groups(card)]
    points = [(g, lvl, float(raw) * k) for g, lvl, raw in card.points[["grp", "level", "raw"]].itertuples(index=False)]
    con.register("__attrs", pd.DataFrame(attrs, columns=["attribute", "attribute_label", "level_sql", "unseen_points"]))
    con.register("__points", pd.DataFrame(points, columns=["attribute", "level", "points"]))
    write_scoring_table(con, "fit_attributes", f"SELECT *, {q(card.version)} AS model_version FROM __attrs")
    write_scoring_table(con, "fit_scorecard", f"""
        SELECT p.attribute, a.attribute_label, p.level, round(p.points, 4) AS points, {q(card.version)} AS model_version
        FROM __points p JOIN __attrs a USING (attribute)""", order_by="attribute, points DESC, level")
    con.unregister("__attrs")
    con.unregister("__points")
