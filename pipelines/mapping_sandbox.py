"""The rights of a mapping's SQL: one expression over source columns, built from an allowed set of functions, run
on a DuckDB connection that can read the landing files it was given and nothing else.

A mapping file comes from the landing folder, which an export job or a file drop outside the data team may fill.
So its `sql` and `where.sql` are parsed by DuckDB's own parser (`json_serialize_sql`) before anything runs, and
refused unless each is exactly one expression of column references, constants, operators, CASE, casts and the
functions of ALLOWED_FUNCTIONS: no second statement, subquery, table, window, lambda or parameter. What runs is
the expression as DuckDB renders it back from the tree it checked. The mapped files are then read on `sandbox()`,
an in-memory database with file and network access disabled but for those files, its configuration locked.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import duckdb

from pipelines.sql import q

# Scalar functions a mapping expression may call (DuckDB's names, lower case), plus the project's macros `num` and
# `icp_domain`. None of them reads or writes a file, the environment or the network.
ALLOWED_FUNCTIONS = frozenset("""
    num icp_domain
    lower upper lcase ucase trim ltrim rtrim concat concat_ws substr substring left right replace reverse repeat
    lpad rpad length strlen char_length strpos instr position contains starts_with ends_with prefix suffix
    split_part string_split regexp_replace regexp_extract regexp_matches regexp_full_match like_escape
    coalesce nullif ifnull greatest least abs round floor ceil ceiling sign trunc mod power pow sqrt ln log log10
    strftime strptime try_strptime to_timestamp epoch epoch_ms make_date make_timestamp date_trunc date_part
    datepart date_diff datediff date_add year month day md5
""".split())
# Parse-tree nodes an expression may contain: everything else (SUBQUERY, STAR, WINDOW, LAMBDA, PARAMETER, ...) is
# refused.
ALLOWED_NODES = frozenset({"FUNCTION", "COLUMN_REF", "CONSTANT", "CASE", "CAST", "COMPARISON", "CONJUNCTION",
                           "OPERATOR", "BETWEEN"})


class UnsafeExpression(ValueError):
    """A mapping expression that is not one allowed expression; the message says what was found."""


def _nodes(tree: Any) -> Iterator[dict]:
    """Every expression node of a parse tree (a JSON value), depth first."""
    if isinstance(tree, dict):
        if "class" in tree:
            yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _refusal(node: dict) -> str | None:
    """Why one node of an expression is refused, or None."""
    kind = node["class"]
    if kind not in ALLOWED_NODES:
        what = {"SUBQUERY": "a subquery", "STAR": "a *", "WINDOW": "a window or aggregate function",
                "PARAMETER": "a parameter", "LAMBDA": "a lambda"}.get(kind, f"a {kind.lower()} expression")
        return f"{what} is not allowed"
    if kind != "FUNCTION":
        return None
    name = node["function_name"]
    if node.get("catalog") or node.get("schema") not in ("", "main"):
        return f"a qualified function {node.get('schema')}.{name} is not allowed"
    if node.get("filter") or node.get("order_bys", {}).get("orders") or node.get("distinct"):
        return f"an aggregate ({name} with FILTER, ORDER BY or DISTINCT) is not allowed"
    if not node.get("is_operator") and name.lower() not in ALLOWED_FUNCTIONS:
        return f"the function {name} is not one a mapping may call (allowed: {', '.join(sorted(ALLOWED_FUNCTIONS))})"
    return None


def checked_expression(con: duckdb.DuckDBPyConnection, text: str) -> str:
    """`text` as DuckDB renders it back from its parse tree, when it is one allowed expression; else raises
    UnsafeExpression. `con` is any DuckDB connection: the text is parsed, never run."""
    try:
        statements = con.extract_statements("SELECT " + text)
    except duckdb.ParserException as exc:
        raise UnsafeExpression(f"not a SQL expression ({str(exc).splitlines()[0]})") from None
    if len(statements) != 1:
        raise UnsafeExpression(f"{len(statements)} statements where one expression is expected")
    tree = json.loads(con.execute("SELECT json_serialize_sql($1)", ["SELECT " + text]).fetchone()[0])
    if tree.get("error"):
        raise UnsafeExpression(f"not a SQL expression ({tree.get('error_message', '').splitlines()[0]})")
    node = tree["statements"][0]["node"]
    if (node["type"] != "SELECT_NODE" or len(node["select_list"]) != 1 or node["from_table"]["type"] != "EMPTY"
            or node["modifiers"] or node["cte_map"]["map"] or node["group_expressions"]
            or any(node[k] is not None for k in ("where_clause", "having", "qualify", "sample"))):
        raise UnsafeExpression("not one expression (a FROM, WHERE, GROUP BY, ORDER BY or a list of values)")
    if node["select_list"][0]["alias"]:
        raise UnsafeExpression("an alias (AS ...): the key the expression stands under names its column")
    for part in _nodes(node["select_list"]):
        why = _refusal(part)
        if why:
            raise UnsafeExpression(why)
    rendered = con.execute("SELECT json_deserialize_sql($1)", [json.dumps(tree)]).fetchone()[0]
    return rendered.removeprefix("SELECT ")


def sandbox(files: list[Path]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that can read `files` and no other file, reaches no network, loads no
    extension and cannot change any of that (its configuration is locked). Times are UTC, as in the build."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET allowed_paths = [{', '.join(q(str(f)) for f in files)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con
