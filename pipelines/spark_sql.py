"""DuckDB SQL rendered for Spark: the landing contract's rules are written once, in DuckDB's dialect
(pipelines/contract_rules.py), and transpiled by sqlglot; the few functions and types it leaves as they are (or
renders with another meaning) are given Spark's equivalents here. tests/test_spark.py checks that the rules
judge the same values the same way on both engines."""
from __future__ import annotations

import sqlglot
from sqlglot import exp

# Spark's session runs in UTC with time-zone-free timestamps (pipelines/spark.py): DuckDB's TIMESTAMP is Spark's
# TIMESTAMP_NTZ; its TIMESTAMPTZ (an instant) must be named TIMESTAMP_LTZ, since TIMESTAMP means NTZ there.
NTZ = exp.DataType.build("TIMESTAMP", dialect="duckdb")
LTZ = exp.DataType.build("TIMESTAMPLTZ")


def _spark_equivalent(node: exp.Expression) -> exp.Expression:
    """A DuckDB function or type that sqlglot does not translate, as Spark SQL with the same result."""
    if isinstance(node, exp.DataType) and node.is_type(exp.DataType.Type.TIMESTAMPTZ):
        return LTZ.copy()
    if isinstance(node, exp.RegexpFullMatch):  # RLIKE finds a match anywhere: anchor it
        anchored = exp.Literal.string(f"^(?:{node.expression.name})$")
        return exp.RegexpLike(this=_rendered(node.this), expression=anchored)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite":  # NaN compares above Infinity
        return exp.LT(this=exp.Abs(this=_rendered(node.expressions[0])),
                      expression=exp.cast(exp.Literal.string("Infinity"), exp.DataType.Type.DOUBLE))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone":
        zone, instant = node.expressions  # the instant's wall-clock time in UTC: the session's time zone
        if zone.name != "UTC":
            raise ValueError(f"timezone({zone.sql()}, ...) has no Spark rendering (only UTC, the session's zone)")
        return exp.cast(_rendered(instant), NTZ.copy())
    if isinstance(node, exp.Anonymous) and node.name.lower() == "map_extract_value":  # NULL for an absent key
        literal, key = node.expressions
        pairs = [_rendered(part) for pair in literal.this.expressions for part in (pair.this, pair.expression)]
        return exp.Anonymous(this="try_element_at", expressions=[exp.Anonymous(this="map", expressions=pairs),
                                                                 _rendered(key)])
    if isinstance(node, exp.JSONObject):  # every key, also those whose value is NULL, as DuckDB writes them
        pairs = [_rendered(part) for kv in node.expressions for part in (kv.this, kv.expression)]
        return exp.Anonymous(this="to_json", expressions=[
            exp.Anonymous(this="named_struct", expressions=pairs),
            sqlglot.parse_one("map('ignoreNullFields', 'false')", read="spark")])
    if isinstance(node, exp.Bracket):  # a list's element: DuckDB's lists count from 1, Spark's arrays from 0
        parts = [_rendered(e) for e in (node.this.unnest(), *node.expressions)]
        return exp.Anonymous(this="element_at", expressions=parts)
    return node


def _rendered(tree: exp.Expression) -> exp.Expression:
    """`tree` with every node rendered for Spark (sqlglot's transform does not visit what a node is replaced by,
    so a replacement renders its parts with this)."""
    return tree.transform(_spark_equivalent)


def to_spark(sql: str) -> str:
    """Spark SQL with the result of the DuckDB SQL `sql` (an expression or a query)."""
    return _rendered(sqlglot.parse_one(sql, read="duckdb")).sql("spark")
