"""Pre-sale attributes (firmographics, technographics, lead source) as labelled levels, computed in SQL.

Only what a prospect also has is used: never billing, support or engagement, which would leak the label.
Each attribute group maps an account to one level whose label doubles as the reason text
("industry = Logistics", "200-2,000 employees", "no Snowflake"). Training and scoring run the same SQL.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import numpy as np

from pipelines.sql import ident, q

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
    qs = ", ".join(str(k / bins) for k in range(1, bins))  # one list: every quantile from one sort
    row = con.execute(f"SELECT quantile_cont({ident(column)}, [{qs}]) FROM {FEATURES} "
                      f"WHERE {ident(column)} IS NOT NULL AND {where}").fetchone()[0]
    if not row:
        return ()
    return tuple(sorted({_nice(v) for v in row if v is not None and v > 0}))


def _top(con: duckdb.DuckDBPyConnection, expr: str, limit: int, where: str) -> tuple[str, ...]:
    rows = con.execute(f"SELECT {expr} AS v, count(*) AS n FROM {FEATURES} WHERE {expr} IS NOT NULL AND {where} "
                       f"GROUP BY v HAVING count(*) >= 5 ORDER BY n DESC, v LIMIT {limit}").fetchall()
    return tuple(r[0] for r in rows)


def learn_encoding(con: duckdb.DuckDBPyConnection, bins: int, where: str = "true") -> Encoding:
    """Levels from the accounts themselves: frequent categories, quantile bands, common technologies."""
    techs = con.execute(f"""
        SELECT t, count(*) AS n FROM (  -- accounts per technology (account_features has one row per account)
            SELECT unnest(list_distinct(list_transform(string_split(technologies, ';'), x -> trim(x)))) AS t
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
    # One row per distinct (value, label), weighted by its accounts: the same splits as over every account,
    # with the smallest band as a weight (at a million accounts: 12k distinct employee counts, 204k revenues).
    distinct, value_of = np.unique(values[known], return_inverse=True)
    classes, class_of = np.unique(y[known], return_inverse=True)
    counts = np.bincount(value_of * len(classes) + class_of, minlength=len(distinct) * len(classes))
    pair = np.flatnonzero(counts)  # (value, class) pairs that occur, in value order
    tree = DecisionTreeClassifier(max_leaf_nodes=max_bins, min_weight_fraction_leaf=max(5, int(0.04 * known.sum()))
                                  / known.sum(), random_state=seed)
    tree.fit(distinct[pair // len(classes)].reshape(-1, 1), classes[pair % len(classes)],
             sample_weight=counts[pair].astype(float))
    cuts = tree.tree_.threshold[tree.tree_.feature >= 0]
    return tuple(sorted({_nice(float(c)) for c in cuts if c > 0}))


def _fmt(x: float, money: bool) -> str:
    if money:
        for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if x >= div:
                return f"${x / div:g}{unit}"
        return f"${x:g}"
    return f"{x:,.0f}"


TOKENS = "list_transform(string_split(lower(coalesce(technologies, '')), ';'), x -> trim(x))"


@dataclass(frozen=True)
class Level:
    """One level of an attribute group: its label (which doubles as the reason text) and the test an account's
    value passes to have it, as data (the fit renders it for DuckDB here, dbt's scoring models for their engine).

    test: `null` (column unknown), `lt` (column < high), `eq` (column = value), `token` (the technologies include
    value), `range` (low <= column < high, either end open when None), `else` (every other account; always last).
    """

    label: str
    test: str
    column: str | None = None
    value: str | None = None
    low: float | None = None
    high: float | None = None

    def sql(self, tokens: str) -> str:
        """The test as a DuckDB condition; `tokens` is the SQL of the account's technologies as a list."""
        col = ident(self.column) if self.column else None
        if self.test == "null":
            return f"{col} IS NULL"
        if self.test == "lt":
            return f"{col} < {self.high!r}"
        if self.test == "eq":
            return f"{col} = {q(self.value)}"
        if self.test == "token":
            return f"list_contains({tokens}, {q(self.value)})"
        if self.test == "range":
            return " AND ".join(filter(None, [f"{col} >= {self.low!r}" if self.low is not None else None,
                                              f"{col} < {self.high!r}" if self.high is not None else None])) or "true"
        raise ValueError(f"the level {self.label!r} has no condition (test {self.test})")


# One attribute group's levels in code order, the last always `else`.
Levels = list[Level]


def _band_levels(column: str, edges: tuple[float, ...], noun: str, money: bool) -> Levels:
    """Bands of a numeric column ('200-2,000 employees'), unknown first."""
    if not edges:  # no bands: one level, unknown included (a column left out by the leakage guard)
        return [Level(f"any {noun}", "else")]
    levels: Levels = [Level(f"{noun} unknown", "null", column)]
    lo = None
    for e in edges:
        label = f"under {_fmt(e, money)} {noun}" if lo is None else f"{_fmt(lo, money)}-{_fmt(e, money)} {noun}"
        levels.append(Level(label, "lt", column, high=e))
        lo = e
    return levels + [Level(f"{_fmt(lo, money)}+ {noun}", "else")]


def _category_levels(column: str, values: tuple[str, ...], noun: str) -> Levels:
    """The kept categories of a column, then unknown and other."""
    if not values:
        return [Level(f"{noun} any", "else")]
    return ([Level(f"{noun} unknown", "null", column)]
            + [Level(f"{noun} = {v}", "eq", column, value=v) for v in values] + [Level(f"{noun} other", "else")])


def attribute_levels(enc: Encoding, declared_size: Level | None = None) -> dict[str, Levels]:
    """Every attribute group's levels; `declared_size` (a `range` level) adds the declared ICP's size rule."""
    groups = {
        "industry": _category_levels("industry", enc.industries, "industry"),
        "employees": _band_levels("employee_count", enc.employee_edges, "employees", money=False),
        "revenue": _band_levels("annual_revenue", enc.revenue_edges, "revenue", money=True),
        "region": _category_levels("region", enc.regions, "region"),
        "lead_source": _category_levels("lead_source", enc.lead_sources, "lead source"),
    }
    for i, tech in enumerate(enc.technologies):
        groups[f"tech_{i}"] = [Level(f"uses {tech}", "token", value=tech.lower()), Level(f"no {tech}", "else")]
    if declared_size is not None:
        groups["declared_size"] = [declared_size, Level(f"outside {declared_size.label}", "else")]
    return groups


def _case(levels: Levels, value, tokens: str = TOKENS) -> str:
    if len(levels) == 1:
        return value(0, levels[0].label)
    whens = " ".join(f"WHEN {level.sql(tokens)} THEN {value(i, level.label)}" for i, level in enumerate(levels[:-1]))
    return f"CASE {whens} ELSE {value(len(levels) - 1, levels[-1].label)} END"


def level_exprs(enc: Encoding, declared_size: Level | None = None) -> dict[str, str]:
    """SQL over account_features per attribute group giving each account's level label."""
    return {g: _case(levels, lambda i, label: q(label)) for g, levels in attribute_levels(enc, declared_size).items()}


@dataclass
class LevelCodes:
    """Some accounts' level in every attribute group as an integer code (an index into `labels[group]`), one row
    per account in account_id order; the accounts' ids stay in DuckDB."""

    labels: dict[str, list[str]]
    codes: np.ndarray  # (accounts, groups) int16

    @property
    def groups(self) -> list[str]:
        return list(self.labels)

    def of(self, groups: Iterable[str], rows: np.ndarray | None = None) -> np.ndarray:
        """The codes of the accounts at positions `rows` (all when None), one column per group of `groups`."""
        return (self.codes if rows is None else self.codes[rows])[:, [self.groups.index(g) for g in groups]]

    def has(self, group: str, label: str) -> np.ndarray:
        """Whether each account's level in `group` is `label`."""
        return self.codes[:, self.groups.index(group)] == self.labels[group].index(label)


def level_codes(con: duckdb.DuckDBPyConnection, enc: Encoding, declared_size: Level | None,
                accounts: str) -> LevelCodes:
    """The level codes of the accounts whose ids the table `accounts` holds, in account_id order, computed by
    DuckDB in one pass."""
    levels = attribute_levels(enc, declared_size)
    cols = ", ".join(f"CAST({_case(lv, lambda i, label: str(i), '__tokens')} AS SMALLINT) AS {ident(g)}"
                     for g, lv in levels.items())
    arrays = con.execute(f"""SELECT {cols} FROM (SELECT f.*, {TOKENS} AS __tokens FROM {FEATURES} f
                             WHERE account_id IN (SELECT account_id FROM {accounts})) ORDER BY account_id""").fetchnumpy()
    codes = np.column_stack([np.asarray(arrays[g], dtype=np.int16) for g in levels])  # industry .. always exist
    return LevelCodes({g: [level.label for level in lv] for g, lv in levels.items()}, codes)
