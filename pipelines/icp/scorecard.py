"""An additive fit scorecard: points per attribute level, learned (logistic regression) or declared.

fit_score = baseline + the sum of one contribution per attribute group, scaled so that the accounts
scored together span 0..100. Because the scaling is linear in the model's log-odds, fit_score orders
accounts exactly as their modelled chance of becoming ideal; `fit_probability` carries that chance.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from pipelines.config import DeclaredICP
from pipelines.icp.attributes import Encoding, level_exprs, levels_query
from pipelines.ingest import ident, q


@dataclass
class Scorecard:
    """Raw points (log-odds, centred on the training population) per attribute level."""

    kind: str                 # learned | declared
    encoding: Encoding
    points: pd.DataFrame      # columns: grp, level, raw
    defaults: dict[str, float]  # raw points of a level the model never saw, per group
    intercept: float          # log-odds of an account whose contributions are all zero
    n_train: int = 0

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
                     n_train=max(c.n_train for c in cards))


def fit_design(X: sparse.csr_matrix, categories: list[np.ndarray], y: np.ndarray, enc: Encoding,
               regularisation: float, seed: int) -> Scorecard:
    """Logistic regression on a one-hot design (columns grouped as `categories`, one block per group); each
    group's points are centred on the training mean."""
    model = LogisticRegression(C=regularisation, max_iter=2000, random_state=seed)
    model.fit(X, y)
    coef = model.coef_[0]
    counts = np.asarray(X.sum(axis=0)).ravel() / max(X.shape[0], 1)
    rows, defaults, intercept, start = [], {}, float(model.intercept_[0]), 0
    for g, cats in zip(enc.groups, categories):
        w, freq = coef[start:start + len(cats)], counts[start:start + len(cats)]
        start += len(cats)
        mean = float((w * freq).sum())
        intercept += mean
        defaults[g] = -mean
        rows += [(g, str(c), float(v - mean)) for c, v in zip(cats, w)]
    points = pd.DataFrame(rows, columns=["grp", "level", "raw"])
    return Scorecard("learned", enc, points, defaults, intercept, n_train=len(y))


def design_from_sql(con: duckdb.DuckDBPyConnection, enc: Encoding, where: str
                    ) -> tuple[sparse.csr_matrix, list[np.ndarray], np.ndarray]:
    """The one-hot design of the accounts matching `where` (ordered by account_id), built from integer level
    codes computed in DuckDB, so no level text reaches Python; also returns the account ids' row order."""
    groups = list(enc.groups)
    con.execute(f"CREATE OR REPLACE TEMP TABLE __train_levels AS {levels_query(enc, where)} ORDER BY account_id")
    distinct = con.execute("SELECT " + ", ".join(f"list_sort(list_distinct(list({ident(g)})))" for g in groups)
                           + " FROM __train_levels").fetchone()
    categories = [np.asarray(d or [], dtype=object) for d in distinct]
    codes = con.execute("SELECT " + ", ".join(
        f"CAST(list_position([{', '.join(q(str(v)) for v in cats)}]::VARCHAR[], {ident(g)}) - 1 AS INTEGER) AS {ident(g)}"
        for g, cats in zip(groups, categories)) + " FROM __train_levels").fetchnumpy()
    n = len(codes[groups[0]]) if groups else 0
    blocks = [sparse.csr_matrix((np.ones(n), (np.arange(n), codes[g])), shape=(n, len(cats)))
              for g, cats in zip(groups, categories)]  # one block of 0/1 columns per group
    ids = con.execute("SELECT account_id FROM __train_levels").fetchnumpy()["account_id"]
    return sparse.hstack(blocks, format="csr"), categories, ids


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
    points = pd.DataFrame(rows, columns=["grp", "level", "raw"])
    return Scorecard("declared", enc, points, {}, 0.0)


@dataclass(frozen=True)
class ScoreScale:
    """The linear map from raw points to 0..100 for one set of scored accounts."""

    low: float
    high: float

    @property
    def factor(self) -> float:
        return 100.0 / (self.high - self.low) if self.high > self.low else 0.0

    @property
    def baseline(self) -> float:
        return 50.0 if self.factor == 0 else -self.low * self.factor


def _points_sql(card: Scorecard, group: str) -> str:
    """CASE expression mapping a group's level label (column `group`) to its raw points."""
    rows = card.points[card.points["grp"] == group]
    default = card.defaults.get(group, 0.0)
    if rows.empty:
        return repr(float(default))
    whens = " ".join(f"WHEN {q(level)} THEN {raw!r}" for level, raw in zip(rows["level"], rows["raw"].astype(float)))
    return f"CASE {ident(group)} {whens} ELSE {float(default)!r} END"


def score_accounts(con: duckdb.DuckDBPyConnection, card: Scorecard, where: str, table: str,
                   declared: DeclaredICP | None = None, top_reasons: int = 4, reasons: bool = True) -> ScoreScale:
    """Score the accounts matching `where` into `table` (account_id, fit_raw, fit_score, fit_probability,
    fit_baseline and, with `reasons`, the reasons text).

    Columnar: DuckDB computes one level and one points column per attribute group; numpy picks each account's
    largest contributions (by absolute size) for the reasons, and DuckDB writes their text.
    """
    groups = list(card.encoding.groups)
    size_rule = _declared_size_sql(declared) if card.kind == "declared" and declared else None
    extra = None
    if size_rule:
        extra = {"declared_size": size_rule[2],
                 "declared_size_points": f"CASE WHEN {size_rule[0]} THEN 1.0 ELSE 0.0 END"}
        groups.append("declared_size")
    points = [("declared_size_points" if g == "declared_size" else _points_sql(card, g)) for g in groups]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE __pts AS
        SELECT row_number() OVER (ORDER BY account_id) AS __rn, *,
               {', '.join(f'CAST({p} AS DOUBLE) AS {ident(f"__p{i}")}' for i, p in enumerate(points))}
        FROM ({levels_query(card.encoding, where, extra)})
    """)
    P = con.execute(f"SELECT {', '.join(ident(f'__p{i}') for i in range(len(groups)))} FROM __pts ORDER BY __rn"
                    ).fetchnumpy()
    matrix = np.column_stack([P[f"__p{i}"] for i in range(len(groups))]) if len(groups) else np.zeros((0, 0))
    raw_sum = matrix.sum(axis=1) if matrix.size else np.zeros(0)
    scale = ScoreScale(float(raw_sum.min()) if len(raw_sum) else 0.0, float(raw_sum.max()) if len(raw_sum) else 0.0)
    k = scale.factor
    raw = " + ".join(ident(f"__p{i}") for i in range(len(groups))) or "0.0"
    scored = (f"SELECT __rn, account_id, {raw} AS raw_sum, round({scale.baseline!r} + ({raw}) * {k!r}, 2) AS fit_score, "
              f"1 / (1 + exp(-({card.intercept!r} + {raw}))) AS fit_probability, {scale.baseline!r} AS fit_baseline "
              f"FROM __pts")
    if not reasons:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT account_id, raw_sum AS fit_raw, fit_score, "
                    f"fit_probability, fit_baseline FROM ({scored}) ORDER BY account_id")
        return scale
    top = min(top_reasons, len(groups))
    order = np.argsort(-np.abs(matrix), axis=1, kind="stable")[:, :top] if top else np.zeros((len(raw_sum), 0), int)
    con.register("__top", pd.DataFrame({"__rn": np.arange(1, len(raw_sum) + 1),
                                        **{f"__t{j}": order[:, j].astype("int16") for j in range(top)}}))

    def pick(j: int, what: str) -> str:
        cases = " ".join(f"WHEN {i} THEN {ident(g) if what == 'level' else ident(f'__p{i}')}"
                         for i, g in enumerate(groups))
        return f"CASE __t{j} {cases} END"

    items = ", ".join(f"{{'level': {pick(j, 'level')}, 'points': CAST(round({pick(j, 'raw')} * {k!r}) AS INTEGER)}}"
                      for j in range(top))
    # The reasons add up: the biggest contributions, the rest as "other factors" (which also absorbs rounding),
    # and the baseline; their numbers sum to the rounded fit_score.
    con.execute(f"""
        CREATE OR REPLACE TABLE {table} AS
        WITH s AS (
            SELECT s.*, list_filter([{items}], x -> x.points <> 0) AS top
            FROM ({scored}) s JOIN __pts USING (__rn) JOIN __top USING (__rn)
        ), summed AS (
            SELECT *, CAST(round({scale.baseline!r}) AS INTEGER) AS base,
                   CAST(round(fit_score) AS INTEGER) - CAST(round({scale.baseline!r}) AS INTEGER)
                       - coalesce(list_sum(list_transform(top, x -> x.points)), 0) AS rest
            FROM s
        )
        SELECT account_id, raw_sum AS fit_raw, fit_score, fit_probability, fit_baseline,
               concat_ws('; ',
                   nullif(array_to_string(list_transform(top, x -> x.level || ' (' || printf('%+d', x.points) || ')'), '; '), ''),
                   CASE WHEN rest <> 0 THEN 'other factors (' || printf('%+d', rest) || ')' END,
                   'baseline ' || base) AS reasons
        FROM summed ORDER BY account_id
    """)
    con.unregister("__top")
    return scale


def _declared_size_sql(declared: DeclaredICP) -> tuple[str, str, str] | None:
    """(condition, label, CASE giving the label or 'outside <label>') of the declared size rule."""
    if not declared.employee_count:
        return None
    lo, hi = declared.employee_count
    cond = " AND ".join(filter(None, [f"employee_count >= {lo}" if lo is not None else None,
                                      f"employee_count < {hi}" if hi is not None else None])) or "true"
    label = f"{lo or 0:,}-{hi:,} employees" if hi else f"{lo:,}+ employees"
    return cond, label, f"CASE WHEN {cond} THEN {q(label)} ELSE {q('outside ' + label)} END"


def write_scorecard(con: duckdb.DuckDBPyConnection, card: Scorecard, scale: ScoreScale,
                    declared: DeclaredICP | None = None) -> None:
    """Publishable scorecard tables: scoring.fit_attributes (each attribute, the SQL that gives an account's
    level from account_features, and the points of a level the model never saw) and scoring.fit_scorecard
    (the fit points of every level). With an account's fit_baseline they rebuild its fit_score exactly."""
    exprs = level_exprs(card.encoding)
    names = {"industry": "industry", "employees": "employees", "revenue": "annual revenue", "region": "region",
             "lead_source": "lead source"}
    names.update({f"tech_{i}": f"technology: {t}" for i, t in enumerate(card.encoding.technologies)})
    k = scale.factor
    attrs = [(g, names[g], exprs[g], float(card.defaults.get(g, 0.0)) * k) for g in card.encoding.groups]
    points = [(g, lvl, float(raw) * k) for g, lvl, raw in card.points[["grp", "level", "raw"]].itertuples(index=False)]
    size_rule = _declared_size_sql(declared) if card.kind == "declared" and declared else None
    if size_rule:
        attrs.append(("declared_size", "declared company size", size_rule[2], 0.0))
        points.append(("declared_size", size_rule[1], k))
    con.register("__attrs", pd.DataFrame(attrs, columns=["attribute", "attribute_label", "level_sql", "unseen_points"]))
    con.register("__points", pd.DataFrame(points, columns=["attribute", "level", "points"]))
    con.execute(f"""CREATE OR REPLACE TABLE scoring.fit_attributes AS
        SELECT *, {q(card.version)} AS model_version FROM __attrs""")
    con.execute(f"""CREATE OR REPLACE TABLE scoring.fit_scorecard AS
        SELECT p.attribute, a.attribute_label, p.level, round(p.points, 4) AS points, {q(card.version)} AS model_version
        FROM __points p JOIN __attrs a USING (attribute) ORDER BY p.attribute, p.points DESC, p.level""")
    con.unregister("__attrs")
    con.unregister("__points")


def contributions(con: duckdb.DuckDBPyConnection, account_id: str, scale: ScoreScale) -> pd.DataFrame:
    """Every attribute's contribution to one account's fit_score (from the last `score_accounts` call):
    columns grp, level, raw, points."""
    row = con.execute("SELECT * FROM __pts WHERE account_id = ?", [account_id]).df().iloc[0]
    n = sum(1 for c in row.index if c.startswith("__p"))
    level_cols = [c for c in row.index if c not in ("__rn", "account_id") and not c.startswith("__p")
                  and not c.endswith("_points")][:n]
    df = pd.DataFrame({"grp": level_cols, "level": [row[c] for c in level_cols],
                       "raw": [float(row[f"__p{i}"]) for i in range(n)]})
    df["points"] = df["raw"] * scale.factor
    return df
