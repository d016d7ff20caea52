"""The landing contract's rules as SQL: each column parsed from text into its contract type, its problem (missing,
wrong type, out of range, not an allowed value) with a reason a person understands, and the rules across rows
(a repeated key, a key in a later export, an unknown account). The ingestor (pipelines/ingest.py) runs them."""
from __future__ import annotations

from pipelines.sql import ident, q
from schemas.contract import Column, Entity

AMOUNT_COLUMNS = {"crm/opportunities": "amount", "billing/subscriptions": "mrr", "billing/invoices": "amount"}
NAIVE_TIMESTAMP = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"  # no zone
# Dates outside these years are typing slips (2205 for 2025): they would move every "as of" figure, and pandas
# (nanosecond timestamps end in 2262) cannot hold them. A range rule: nulled, or the row rejected if required.
YEARS = (1800, 2199)
TYPE_WORDS = {"integer": "an integer", "decimal": "a number", "boolean": "a boolean", "date": "a date",
              "timestamp": "a timestamp"}
PROBLEM = 'STRUCT("column" VARCHAR, rule VARCHAR, reason VARCHAR)'  # a rejection, or a value nulled


def parse(col: Column, v: str) -> str:
    """SQL that parses the text value `v` into the column's contract type (NULL when it does not parse)."""
    if col.type == "string":
        return f"lower({v})" if col.allowed else v
    if col.type == "integer":  # whole numbers, also written as 12.0
        return (f"CASE WHEN regexp_full_match({v}, '[+-]?[0-9]+(\\.0*)?') "
                f"THEN TRY_CAST(split_part({v}, '.', 1) AS BIGINT) END")
    if col.type == "decimal":
        return f"CASE WHEN isfinite(TRY_CAST({v} AS DOUBLE)) THEN TRY_CAST({v} AS DOUBLE) END"
    if col.type == "boolean":
        return (f"CASE WHEN lower({v}) IN ('true', 't', 'yes', 'y', '1') THEN true "
                f"WHEN lower({v}) IN ('false', 'f', 'no', 'n', '0') THEN false END")
    # A time without a zone is read as UTC: the plain TIMESTAMP parse, which is several times faster than
    # TIMESTAMPTZ's. Anything else (an offset, Z, a zone name) goes through TIMESTAMPTZ and is stored as UTC.
    ts = (f"CASE WHEN regexp_full_match({v}, '{NAIVE_TIMESTAMP}') THEN TRY_CAST({v} AS TIMESTAMP) "
          f"ELSE timezone('UTC', TRY_CAST({v} AS TIMESTAMPTZ)) END")
    if col.type == "timestamp":
        return ts
    return f"coalesce(TRY_CAST({v} AS DATE), CAST({ts} AS DATE))"


def can_fail(col: Column) -> bool:
    """Whether a value of this column can break a row rule (not every optional string can)."""
    return col.required or col.type != "string" or bool(col.allowed or col.range)


def problem(col: Column, v: str, p: str) -> str:
    """SQL giving (rule, reason) for the column's first problem, or NULL when the value is fine."""
    shown = f"left({v}, 80)"
    cases = []
    if col.required:
        cases.append((f"{v} IS NULL", "missing", q(f"{col.name} is missing")))
    if col.type != "string":  # an infinite date or time (DuckDB reads 'infinity') has no year: not a date either
        null = f"year({p}) IS NULL" if col.type in ("date", "timestamp") else f"{p} IS NULL"
        cases.append((f"{v} IS NOT NULL AND {null}", "type",
                      f"{q(col.name + ' ')} || {q(chr(39))} || {shown} || {q(chr(39) + ' is not ' + TYPE_WORDS[col.type])}"))
    if col.type in ("date", "timestamp"):
        cases.append((f"year({p}) NOT BETWEEN {YEARS[0]} AND {YEARS[1]}", "range",
                      f"{q(col.name + ' ')} || {shown} || {q(f' is outside the years {YEARS[0]} to {YEARS[1]}')}"))
    if col.range:
        lo, hi = col.range
        if lo is not None:
            cases.append((f"{p} < {lo}", "range", f"{q(col.name + ' ')} || {shown} || {q(f' is below {lo:g}')}"))
        if hi is not None:
            cases.append((f"{p} > {hi}", "range", f"{q(col.name + ' ')} || {shown} || {q(f' is above {hi:g}')}"))
    if col.allowed:
        allowed = ", ".join(q(a) for a in col.allowed)
        cases.append((f"{p} NOT IN ({allowed})", "allowed",
                      f"{q(col.name + ' ')} || {q(chr(39))} || {shown} || "
                      f"{q(chr(39) + ' is not one of ' + ', '.join(col.allowed))}"))
    if not cases:
        return "NULL"
    whens = " ".join(f"WHEN {cond} THEN {{'rule': {q(rule)}, 'reason': {reason}}}" for cond, rule, reason in cases)
    return f"CASE {whens} END"


def kept(entity: Entity) -> str:
    """SQL: `checked` with each value as kept in p_<col>: its parse (__parsed_<col>), NULL for an optional value with
    a problem, so that nothing computed after this step (rules, amounts in USD, anything dbt derives) sees a value
    the contract nulls."""
    values = ", ".join(
        f"CASE WHEN {ident('e_' + c.name)} IS NULL THEN {ident('__parsed_' + c.name)} END AS {ident('p_' + c.name)}"
        if not c.required and can_fail(c) else f"{ident('__parsed_' + c.name)} AS {ident('p_' + c.name)}"
        for c in entity.columns)
    return f"SELECT *, {values} FROM checked"


def raw_values(entity: Entity) -> list[str]:
    """SQL: the raw.<table> columns from a kept row (p_<col> parsed, problems nulled; __rate to USD):
    currency upper case (USD when absent), amounts also in USD."""
    cols = []
    for c in entity.columns:
        value = ident("p_" + c.name)
        if c.name == "currency":
            value = f"upper(coalesce({value}, 'USD'))"
        cols.append(f"{value} AS {ident(c.name)}")
    amount = AMOUNT_COLUMNS.get(entity.name)
    if amount:
        cols.append(f"{ident('p_' + amount)} * __rate AS {ident(amount + '_usd')}")
    return cols


def nulled(entity: Entity) -> str:
    """SQL: a kept row's problems with optional values (each nulled), as a list; NULL when it has none."""
    nullable = [c for c in entity.columns if not c.required and can_fail(c)]
    if not nullable:
        return f"CAST(NULL AS {PROBLEM}[])"
    any_nulled = " OR ".join(f"{ident('e_' + c.name)} IS NOT NULL" for c in nullable)
    problems = ", ".join(
        f"CASE WHEN {ident('e_' + c.name)} IS NOT NULL THEN {{'column': {q(c.name)}, "
        f"'rule': {ident('e_' + c.name)}.rule, 'reason': {ident('e_' + c.name)}.reason}} END" for c in nullable)
    return f"CASE WHEN __rejected IS NULL AND ({any_nulled}) THEN list_filter([{problems}], lambda p: p IS NOT NULL) END"


def source_file(files: list[str]) -> str:
    """SQL: a `raw.<table>__landed` row's file name (`files` in file order), as `_source_file`. The name is not
    stored on every row: a text column of a few millions rows costs a tenth of a second to write."""
    names = ", ".join(q(f) for f in files)
    return f"([{names}]::VARCHAR[])[__file_order + 1] AS _source_file"


def raw_json(entity: Entity, prefix: str = "") -> str:
    """SQL: a `land` row's record as landed (its text values), as JSON."""
    return "json_object(" + ", ".join(f"{q(c.name)}, {prefix}{ident(c.name)}" for c in entity.columns) + ")"


def checked(entity: Entity) -> str:
    """SQL: `land` with every column parsed once (__parsed_<col>) and its problem (e_<col>: rule, reason), if any."""
    parsed = ", ".join(f"{parse(c, ident(c.name))} AS {ident('__parsed_' + c.name)}" for c in entity.columns)
    problems = ", ".join(f"{problem(c, ident(c.name), ident('__parsed_' + c.name))} AS {ident('e_' + c.name)}"
                         for c in entity.columns)
    return f"SELECT *, {problems} FROM (SELECT *, {parsed} FROM land)"


def row_rules(entity: Entity) -> str:
    """SQL: a checked row's first problem of its own as {column, rule, reason}, or NULL: excluded by the mapping,
    unmatched, a required column's problem, no rate for its currency (`__rate`)."""
    required = [c for c in entity.columns if c.required]
    column_problem = "coalesce(" + ", ".join(
        f"CASE WHEN {ident('e_' + c.name)} IS NOT NULL THEN {{'column': {q(c.name)}, "
        f"'rule': {ident('e_' + c.name)}.rule, 'reason': {ident('e_' + c.name)}.reason}} END"
        for c in required) + ")"
    rules = [
        "CASE WHEN __excluded IS NOT NULL THEN {'column': NULL, 'rule': 'excluded', 'reason': __excluded} END",
        "CASE WHEN __match_reason IS NOT NULL THEN "
        "{'column': 'account_id', 'rule': 'unmatched', 'reason': __match_reason} END",
        column_problem,
    ]
    amount = AMOUNT_COLUMNS.get(entity.name)
    if amount:
        rules.append(
            f"CASE WHEN {ident('p_' + amount)} IS NOT NULL AND __rate IS NULL THEN {{'column': 'currency', "
            f"'rule': 'no_fx_rate', 'reason': 'currency ' || {q(chr(39))} || p_currency || "
            f"{q(chr(39) + ' has no rate in reference/fx_rates')}}} END")
    return f"coalesce({', '.join(rules)})"


def cross_rules(entity: Entity, files: list[str]) -> str:
    """SQL: a landed row's first problem across rows as {column, rule, reason}, or NULL (over rows with their key
    windows and `__known` account): its key repeats an earlier row of its file, or is in a later file, or its
    account is unknown. These rules come after the row's own, but before a missing rate (see _row_rules)."""
    pk = ident(entity.primary_key)
    names = "([" + ", ".join(q(f) for f in files) + "]::VARCHAR[])"
    rules = [
        f"CASE WHEN __dup_rank > 1 THEN {{'column': {q(entity.primary_key)}, 'rule': 'duplicate', "
        f"'reason': {q(entity.primary_key + ' ')} || {q(chr(39))} || {pk} || {q(chr(39) + ' repeats row ')} "
        f"|| __first_row || ' of this file'}} END",
        f"CASE WHEN __file_order < __winner_order THEN {{'column': {q(entity.primary_key)}, "
        f"'rule': 'superseded', 'reason': {q(entity.primary_key + ' ')} || {q(chr(39))} || {pk} || "
        f"{q(chr(39) + ' is replaced by ')} || {names}[__winner_order + 1] || ' (a later export)'}} END",
    ]
    ref = next((c for c in entity.columns if c.references), None)
    if ref is not None:
        v = ident(ref.name)
        rules.append(
            f"CASE WHEN {v} IS NOT NULL AND __known IS NULL THEN {{'column': {q(ref.name)}, "
            f"'rule': 'unknown_account', 'reason': {q(ref.name + ' ')} || {q(chr(39))} || {v} || "
            f"{q(chr(39) + ' is not in ' + ref.references)}}} END")
    return f"coalesce({', '.join(rules)})"


def judged(entity: Entity, rate: str, files: list[str] | None = None) -> str:
    """SQL: every row of `land`, parsed and checked, in its raw.<table> columns, with the first reason it is
    rejected in `__rejected`, the problems of the values it keeps nulled in `__nulled`, and, on rows with either,
    the record as landed in `__raw_record`. `rate` is a row's rate to USD (NULL when its currency has none).

    The reasons are the row's own (exclusion, match, columns, currency); with `files` (in file order) also the
    rules across rows, which then come before a missing rate: `land` has each row's key windows (`__dup_rank`,
    `__first_row`, `__winner_order`) and its known account (`__known`)."""
    crossed, rejected, nulled_kept = "", "__rejected", "__nulled"
    noted = "__rejected IS NOT NULL OR __nulled IS NOT NULL"
    if files is not None:
        crossed = (f", CASE WHEN __rejected IS NULL OR __rejected.rule = 'no_fx_rate' "
                   f"THEN {cross_rules(entity, files)} END AS __cross")
        rejected, nulled_kept = "coalesce(__cross, __rejected)", "CASE WHEN __cross IS NULL THEN __nulled END"
        noted += " OR __cross IS NOT NULL"
    return f"""
        WITH checked AS ({checked(entity)}),
        kept AS ({kept(entity)}),
        judged AS (SELECT *, {row_rules(entity)} AS __rejected FROM (SELECT *, {rate} AS __rate FROM kept)),
        noted AS (SELECT *, {nulled(entity)} AS __nulled{crossed} FROM judged)
        SELECT {', '.join(raw_values(entity))}, __row AS _row_number, __file_order,
               {rejected} AS __rejected, {nulled_kept} AS __nulled,
               CASE WHEN {noted} THEN {raw_json(entity)} END AS __raw_record
        FROM noted"""
