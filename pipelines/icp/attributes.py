"""Pre-sale attributes (firmographics, technographics, lead source) as labelled levels, computed in SQL.

Only what a prospect also has is used: never billing, support or engagement, which would leak the label.
Each attribute group maps an account to one level whose label doubles as the reason text
("industry = Logistics", "200-2,000 employees", "no Snowflake"). Training and scoring run the same SQL.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import numpy as np

from pipelines.ingest import ident, q

FEATURES = "marts.account_features"
MAX_LEVELS = 25
MAX_TECHNOLOGIES = 15


@dataclass(frozen=True)
class Encoding:
    """How accounts map to levels: kept categories, numeric band edges, technologies with a flag."""

    industries: tuple[str, ...]
    regions: tuple[str, ...]
    lead_sources: tuple[str, ...]
    technologies: tuple[str, ...]
    employee_edges: tuple[float, ...]
    revenue_edges: tuple[float, ...]
    groups: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        groups = ["industry", "employees", "revenue", "region", "lead_source"]
        groups += [f"tech_{i}" for i in range(len(self.technologies))]
        object.__setattr__(self, "groups", tuple(groups))


def _nice(x: float) -> float:
    """Round to two significant digits, so that band edges read well (1,234 -> 1,200)."""
    if x <= 0:
        return 0.0
    digits = 1 - int(math.floor(math.log10(x)))
    return float(round(x, digits))


def _edges(con: duckdb.DuckDBPyConnection, column: str, bins: int, where: str) -> tuple[float, ...]:
    qs = ", ".join(f"quantile_cont({ident(column)}, {k / bins})" for k in range(1, bins))
    row = con.execute(f"SELECT {qs} FROM {FEATURES} WHERE {ident(column)} IS NOT NULL AND {where}").fetchone()
    if row is None or row[0] is None:
        return ()
    return tuple(sorted({_nice(v) for v in row if v is not None and v > 0}))


def _top(con: duckdb.DuckDBPyConnection, expr: str, limit: int, where: str) -> tuple[str, ...]:
    rows = con.execute(f"SELECT {expr} AS v, count(*) AS n FROM {FEATURES} WHERE {expr} IS NOT NULL AND {where} "
                       f"GROUP BY v HAVING count(*) >= 5 ORDER BY n DESC, v LIMIT {limit}").fetchall()
    return tuple(r[0] for r in rows)


def learn_encoding(con: duckdb.DuckDBPyConnection, bins: int, where: str = "true") -> Encoding:
    """Levels from the accounts themselves: frequent categories, quantile bands, common technologies."""
    techs = con.execute(f"""
        SELECT t, count(*) AS n FROM (
            SELECT DISTINCT account_id, trim(unnest(string_split(technologies, ';'))) AS t
            FROM {FEATURES} WHERE technologies IS NOT NULL AND {where})
        WHERE t <> '' GROUP BY t HAVING count(*) >= 5 ORDER BY n DESC, t LIMIT {MAX_TECHNOLOGIES}""").fetchall()
    return Encoding(
        industries=_top(con, "industry", MAX_LEVELS, where),
        regions=_top(con, "region", MAX_LEVELS, where),
        lead_sources=_top(con, "lead_source", MAX_LEVELS, where),
        technologies=tuple(t for t, _ in techs),
        employee_edges=_edges(con, "employee_count", bins, where),
        revenue_edges=_edges(con, "annual_revenue", bins, where),
    )


def supervised_edges(values: np.ndarray, y: np.ndarray, max_bins: int, seed: int) -> tuple[float, ...]:
    """Band edges that best separate the label (a one-feature decision tree), rounded to read well."""
    from sklearn.tree import DecisionTreeClassifier

    known = ~np.isnan(values)
    if known.sum() < 20 or len(np.unique(y[known])) < 2:
        return ()
    tree = DecisionTreeClassifier(max_leaf_nodes=max_bins, min_samples_leaf=max(5, int(0.04 * known.sum())),
                                  random_state=seed)
    tree.fit(values[known].reshape(-1, 1), y[known])
    cuts = tree.tree_.threshold[tree.tree_.feature >= 0]
    return tuple(sorted({_nice(float(c)) for c in cuts if c > 0}))


def _fmt(x: float, money: bool) -> str:
    if money:
        for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if x >= div:
                return f"${x / div:g}{unit}"
        return f"${x:g}"
    return f"{x:,.0f}"


def _band_sql(column: str, edges: tuple[float, ...], noun: str, money: bool) -> str:
    """CASE expression: the band of a numeric column ('200-2,000 employees')."""
    if not edges:
        return f"CASE WHEN {ident(column)} IS NULL THEN {q(noun + ' unknown')} ELSE {q('any ' + noun)} END"
    cases = [f"WHEN {ident(column)} IS NULL THEN {q(noun + ' unknown')}"]
    lo = None
    for e in edges:
        label = f"under {_fmt(e, money)} {noun}" if lo is None else f"{_fmt(lo, money)}-{_fmt(e, money)} {noun}"
        cases.append(f"WHEN {ident(column)} < {e!r} THEN {q(label)}")
        lo = e
    cases.append(f"ELSE {q(f'{_fmt(lo, money)}+ {noun}')}")
    return "CASE " + " ".join(cases) + " END"


def _category_sql(column: str, levels: tuple[str, ...], noun: str) -> str:
    if not levels:
        return q(f"{noun} any")
    listed = ", ".join(q(v) for v in levels)
    return (f"CASE WHEN {ident(column)} IS NULL THEN {q(noun + ' unknown')} "
            f"WHEN {ident(column)} IN ({listed}) THEN {q(noun + ' = ')} || {ident(column)} "
            f"ELSE {q(noun + ' other')} END")


def level_exprs(enc: Encoding) -> dict[str, str]:
    """SQL expression per attribute group giving each account's level label."""
    exprs = {
        "industry": _category_sql("industry", enc.industries, "industry"),
        "employees": _band_sql("employee_count", enc.employee_edges, "employees", money=False),
        "revenue": _band_sql("annual_revenue", enc.revenue_edges, "revenue", money=True),
        "region": _category_sql("region", enc.regions, "region"),
        "lead_source": _category_sql("lead_source", enc.lead_sources, "lead source"),
    }
    for i, tech in enumerate(enc.technologies):
        exprs[f"tech_{i}"] = (f"CASE WHEN list_contains(list_transform(string_split(lower(coalesce(technologies, '')), ';'), "
                              f"x -> trim(x)), {q(tech.lower())}) THEN {q('uses ' + tech)} ELSE {q('no ' + tech)} END")
    return exprs


def levels_query(enc: Encoding, where: str = "true", extra: dict[str, str] | None = None) -> str:
    """SELECT account_id, one level column per attribute group, and any `extra` columns (name -> SQL)."""
    cols = ", ".join(f"{expr} AS {ident(g)}" for g, expr in {**level_exprs(enc), **(extra or {})}.items())
    return f"SELECT account_id, {cols} FROM {FEATURES} WHERE {where}"


