"""Landing -> raw: DuckDB reads every landing file, applies the landing contract's rules, quarantines problems.

Each entity is read as text (so that nothing is lost to a reader's type guess), parsed column by column with
TRY_CAST in SQL, and written once, in file order: every row, with its verdict, to `raw.<system>_<entity>__landed`.
Files in the contract's own layout are read straight into that table (no text copy in between); mapped files go
through the text table `land` first (pipelines/mapped_sql.py). The rules that compare rows (a key repeated, a key
in a later export, an account that does not exist) are checked on the written table afterwards; only when some
row breaks one is the table written again (in the same order) to mark it. `raw.<system>_<entity>` is the view of
the good rows (what dbt reads); every rejected row and every nulled value lands in `raw.quarantine` with its file,
row number and a reason a person understands.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Iterable, Iterator

import duckdb

from pipelines.mapped_sql import MappedEntity
from pipelines.mapping import Mapping
from pipelines import contract_rules as rules
from pipelines.contract_rules import AMOUNT_COLUMNS, PROBLEM
from pipelines.landing_files import COUNTED_ROW, LandingError, entity_files, first_line, text_reader, text_value
from pipelines.sql import ident, q
from pipelines.warehouse import drop_relation
from schemas.contract import SQL_TYPES, Entity, landing_contract

# Ingest order: reference data and accounts first, since other entities are checked against them.
ORDER = ["reference/fx_rates", "crm/accounts", "crm/contacts", "crm/opportunities", "crm/activities",
         "billing/subscriptions", "billing/invoices", "support/tickets"]
SUMMARY_COLUMNS = """entity VARCHAR, files BIGINT, rows_read BIGINT, rows_kept BIGINT, rows_rejected BIGINT,
    rows_superseded BIGINT, rows_excluded BIGINT, rows_unmatched BIGINT, values_nulled BIGINT, mapped_by VARCHAR"""
QUARANTINE_COLUMNS = """refresh_id VARCHAR, entity VARCHAR, source_file VARCHAR, row_number BIGINT,
    primary_key VARCHAR, column_name VARCHAR, severity VARCHAR, reason VARCHAR, raw_record VARCHAR, rule VARCHAR"""


@dataclass
class EntityReport:
    """What ingesting one entity did."""

    entity: str
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    rows_superseded: int = 0
    values_nulled: int = 0
    rows_excluded: int = 0
    rows_unmatched: int = 0
    matched: dict[str, int] = field(default_factory=dict)
    mapped_by: str = ""
    top_reasons: list[tuple[str, int]] = field(default_factory=list)


def landed(entity: Entity) -> str:
    """The table of every row landed for the entity, with its verdict; raw.<table> is a view of its kept rows.
    Its `_row_number` is NULL on rows of CSV and JSON Lines files in the contract's layout, numbered by their
    position in it: raw.<table> and raw.quarantine carry every row's number."""
    return f"raw.{entity.table}__landed"


class Ingestor:
    """Ingests landing entities into a build database connection, one entity at a time.

    An entity named in `mapping` is read from the mapping's files (pipelines/mapped_sql.py); every other
    entity from `<landing>/<system>/<entity>.*`, as the landing contract lays out.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, landing: Path, refresh_id: str,
                 mapping: Mapping | None = None):
        self.con = con
        self.landing = Path(landing)
        self.refresh_id = refresh_id
        self.mapping = mapping
        self.contract = landing_contract()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.quarantine ({QUARANTINE_COLUMNS})")
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.ingest_summary ({SUMMARY_COLUMNS})")

    def ingest(self, name: str) -> EntityReport:
        """Ingest one entity; raises LandingError on a file-level violation or too many rejected rows."""
        entity = self.contract.entities[name]
        report = EntityReport(entity=name)
        self.con.execute(f"DELETE FROM raw.quarantine WHERE entity = {q(name)}")
        mapped = None
        if self.mapping is not None and name in self.mapping.entities:
            mapped = MappedEntity(self.con, self.landing, self.mapping, entity)
        files = mapped.files() if mapped else []
        if not files:  # a mapping whose files are absent leaves the entity to the contract's own layout
            mapped, files = None, entity_files(self.landing, entity)
        if not files:
            if entity.required:
                stem = f"{self.landing}/{name}"
                how = ""
                if self.mapping is not None and name in self.mapping.entities:
                    em = self.mapping.entities[name]
                    how = (f"; the mapping {self.mapping.source} reads it from "
                           f"{', '.join(em.files or self.mapping.entities[em.from_].files)}, which match no file")
                raise LandingError(
                    f"{name}: required entity has no file; expected {stem}.csv (or .csv.gz, .parquet, .jsonl) "
                    f"or a folder {stem}/ of such files, with columns {', '.join(c.name for c in entity.columns)}"
                    + how)
            self._create_empty(entity)
            return self._summarise(report)
        report.mapped_by = mapped.describe() if mapped else ""
        try:
            numbered = self._load_text(entity, files, report, mapped)
        finally:
            if mapped is not None:
                mapped.close()
        numbers = self._judge(entity, report.files, numbered)
        self._write(entity, report, numbers)
        self._enforce_threshold(entity, report)
        if mapped is not None:
            self._enforce_match_rate(mapped, report)
        return self._summarise(report)

    def _summarise(self, report: EntityReport) -> EntityReport:
        """Record the entity's counts in raw.ingest_summary (published as ingest_summary)."""
        row = [report.entity, len(report.files), report.rows_read, report.rows_kept, report.rows_rejected,
               report.rows_superseded, report.rows_excluded, report.rows_unmatched, report.values_nulled,
               report.mapped_by or None]
        self.con.execute("DELETE FROM raw.ingest_summary WHERE entity = ?", [report.entity])
        self.con.execute(f"INSERT INTO raw.ingest_summary VALUES ({', '.join('?' * len(row))})", row)
        return report

    # -- reading -------------------------------------------------------------------------------------
    def _load_text(self, entity: Entity, files: list[Path], report: EntityReport,
                   mapped: MappedEntity | None) -> str:
        """Every file's rows as `land`: contract columns as trimmed text (NULL when empty), with the file, its
        order and the row number, and (for mapped files) account match and exclusion. Returns the SQL of the same
        rows with every row number.

        Files in the contract's layout make `land` a view of the files, read once when the entity is written;
        their CSV rows carry no number there (numbering in the read makes it sequential): they are written in file
        order, so their number follows from their position (see `_judge`). Mapped files are loaded into `land` as a
        table, with their numbers.
        """
        cols = ", ".join(f"{ident(c.name)} VARCHAR" for c in entity.columns)
        for name, kind in self.con.execute("SELECT table_name, table_type FROM information_schema.tables WHERE "
                                           "table_catalog = 'temp' AND table_name = 'land'").fetchall():
            self.con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {name}")  # the previous entity's
        if mapped is not None:  # loaded on the mapping's sandbox, then copied here
            mapped.con.execute(f"CREATE TEMP TABLE land (__file VARCHAR, __file_order INTEGER, "
                               f"__row BIGINT, {cols}, __match VARCHAR, __match_reason VARCHAR, __excluded VARCHAR)")
        reading = mapped.con if mapped is not None else self.con
        selects, numbered = [], []
        for order, path in enumerate(files):
            rel = path.relative_to(self.landing).as_posix()
            reader, row_number = text_reader(path)
            try:
                header = [r[0] for r in reading.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
                if path.name.lower().endswith((".jsonl", ".ndjson")):
                    reader, row_number = text_reader(path, header)
                if mapped is not None:
                    mapped.con.execute(mapped.insert(path, order, reader, row_number, header))
                else:
                    unnumbered = "CAST(NULL AS BIGINT)" if row_number == COUNTED_ROW else row_number
                    selects.append(self._native_select(entity, rel, order, reader, unnumbered, header))
                    numbered.append(self._native_select(entity, rel, order, reader, row_number, header))
            except (duckdb.BinderException, duckdb.ParserException) as exc:
                if mapped is None:
                    raise LandingError(f"{entity.name}: file {rel} cannot be read: {first_line(exc)}") from exc
                raise LandingError(f"{mapped.describe()}: the mapping's SQL does not fit file {rel}: "
                                   f"{first_line(exc)}") from exc
            except duckdb.Error as exc:
                raise LandingError(f"{entity.name}: file {rel} cannot be read: {first_line(exc)}") from exc
            report.files.append(rel)
        if mapped is not None:
            mapped.keep_first()
            self.con.register("__mapped_land", mapped.land())
            try:
                self.con.execute("CREATE TEMP TABLE land AS SELECT * FROM __mapped_land")
            finally:
                self.con.unregister("__mapped_land")
            report.matched = dict(self.con.execute(
                "SELECT coalesce(__match, 'unmatched'), count(*) FROM land WHERE __excluded IS NULL "
                "GROUP BY ALL ORDER BY ALL").fetchall()) if mapped.em.account else {}
            return "SELECT * FROM land"
        self.con.execute(f"CREATE TEMP VIEW land AS {' UNION ALL '.join(selects)}")
        return " UNION ALL ".join(numbered)

    def _native_select(self, entity: Entity, rel: str, order: int, reader: str, row_number: str,
                       header: list[str]) -> str:
        """The rows of a file in the contract's own shape (column names in any case), as `land` has them."""
        values = ", ".join(f"{text_value(ident(h)) if h else 'CAST(NULL AS VARCHAR)'} AS {ident(c)}"
                           for c, h in native_columns(entity, rel, header).items())
        return (f"SELECT {q(rel)} AS __file, {order} AS __file_order, {row_number} AS __row, {values}, "
                f"CAST(NULL AS VARCHAR) AS __match, CAST(NULL AS VARCHAR) AS __match_reason, "
                f"CAST(NULL AS VARCHAR) AS __excluded FROM {reader}")

    # -- row rules -----------------------------------------------------------------------------------
    def _judge(self, entity: Entity, files: list[str], numbered: str) -> str:
        """Write `raw.<table>__landed` (see contract_rules.judged), reject the rows that break a rule across rows
        (see _cross_rows) and make `raw.<table>` the view of its kept rows. Returns the SQL of a landed row's number in
        its file: CSV and JSON Lines rows in the contract's layout are numbered by their position, since they are
        written in file order (`land` is read by one SELECT without joins, which keeps the order)."""
        table = landed(entity)
        drop_relation(self.con, "raw", f"{entity.table}__landed")  # a view of Spark's rows, when it ran on Spark
        try:
            self.con.execute(f"CREATE TABLE {table} AS {rules.judged(entity, self._fx_rate(entity))}")
        except duckdb.InvalidInputException as exc:  # a file in the contract's layout is read here
            raise LandingError(f"{entity.name}: file {' or '.join(files)} cannot be read: "
                               f"{first_line(exc)}") from exc
        rows = dict(self.con.execute(f"SELECT __file_order, count(*) FROM {table} GROUP BY ALL").fetchall())
        firsts = list(accumulate((rows.get(i, 0) for i in range(len(files) - 1)), initial=0))
        numbers = f"coalesce(_row_number, rowid - {firsts}[__file_order + 1] + 1)"
        self._cross_rows(entity, files, numbered, numbers)
        self._raw_view(entity, files, numbers)
        return numbers

    def _fx_rate(self, entity: Entity) -> str:
        """SQL: a checked row's rate to USD, NULL when its currency has none (USD is 1). The rates, one per
        currency, are written into the SQL as a map: a join would not keep the rows in file order."""
        if entity.name not in AMOUNT_COLUMNS:
            return "1.0"
        rates = dict(self.con.execute("SELECT currency, rate_to_usd FROM raw.reference_fx_rates").fetchall())
        rates["USD"] = 1.0
        entries = ", ".join(f"{q(c)}: CAST({r!r} AS DOUBLE)" for c, r in sorted(rates.items()))
        return f"map_extract_value(MAP {{{entries}}}, upper(coalesce(p_currency, 'USD')))"

    def _cross_rows(self, entity: Entity, files: list[str], numbered: str, numbers: str) -> None:
        """Reject, in `raw.<table>__landed`, the rows that break a rule across rows and no rule of their own before
        it: a key repeated in its file, a key that a later export (file) replaces, an account not in crm/accounts.

        Such rows are rare: the table is checked for them, and only rewritten (in the same order) when there are
        any, with each one's record as landed read again (`numbered`: `land` with every row number). Keys are
        told apart by their 64-bit hashes (faster to count than the text): two keys with the same hash only cost
        the key windows.
        """
        table, pk = landed(entity), ident(entity.primary_key)
        ref = next((c for c in entity.columns if c.references), None)
        distinct = f"count(DISTINCT hash({pk})) FILTER ({pk} IS NOT NULL)"  # hash(NULL) is a value
        repeats = self.con.execute(f"SELECT count({pk}) <> {distinct} FROM {table}").fetchone()[0]
        if not repeats and ref is None:
            return
        if repeats:
            keys = (f"row_number() OVER (PARTITION BY __file_order, {pk} ORDER BY __row) AS __dup_rank, "
                    f"min(__row) OVER (PARTITION BY __file_order, {pk}) AS __first_row, "
                    f"max(__file_order) OVER (PARTITION BY {pk}) AS __winner_order")
        else:
            keys = "1 AS __dup_rank, __row AS __first_row, __file_order AS __winner_order"
        known, join = "NULL", ""
        if ref is not None:
            accounts = self.contract.entities[ref.references].table
            known = "acc.__known"
            join = (f"LEFT JOIN (SELECT account_id AS __known FROM raw.{accounts}) acc "
                    f"ON acc.__known = l.{ident(ref.name)}")
        rows = f"SELECT *, rowid AS __rid, {numbers} AS __row FROM {table}"
        self.con.execute(f"""CREATE OR REPLACE TEMP TABLE __cross AS
            SELECT __rid, __file_order, __row, __problem FROM (
                SELECT *, {rules.cross_rules(entity, files)} AS __problem
                FROM (SELECT *, {keys} FROM (SELECT l.*, {known} AS __known FROM ({rows}) l {join})))
            WHERE __problem IS NOT NULL AND (__rejected IS NULL OR __rejected.rule = 'no_fx_rate')""")
        if self.con.execute("SELECT count(*) FROM __cross").fetchone()[0]:
            self.con.execute(f"""CREATE OR REPLACE TABLE {table} AS
                SELECT l.* REPLACE (coalesce(c.__problem, l.__rejected) AS __rejected,
                                    CASE WHEN c.__problem IS NULL THEN l.__nulled END AS __nulled,
                                    coalesce(l.__raw_record, c.__raw) AS __raw_record)
                FROM {table} l LEFT JOIN (
                    SELECT c.__rid, c.__problem, {rules.raw_json(entity, 'n.')} AS __raw
                    FROM __cross c JOIN ({numbered}) n USING (__file_order, __row)) c ON c.__rid = l.rowid
                ORDER BY l.rowid""")
        self.con.execute("DROP TABLE __cross")

    def _raw_view(self, entity: Entity, files: list[str], numbers: str) -> None:
        """`raw.<table>`: the kept rows of `raw.<table>__landed`, with their file's name (`files`, in file order)
        and row number (`numbers`), replacing the table an older version wrote."""
        view = f"CREATE OR REPLACE VIEW raw.{entity.table} AS {kept_rows(entity, files, numbers, landed(entity))}"
        try:
            self.con.execute(view)
        except duckdb.CatalogException:  # raw.<table> is still a table
            self.con.execute(f"DROP TABLE raw.{entity.table}")
            self.con.execute(view)

    def _write(self, entity: Entity, report: EntityReport, numbers: str) -> None:
        """Write the rows rejected and the values nulled to raw.quarantine, and count them."""
        table = landed(entity)
        report.rows_read = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        common = (f"{q(self.refresh_id)} AS refresh_id, {q(entity.name)} AS entity, {rules.source_file(report.files)}, "
                  f"_row_number AS row_number, {ident(entity.primary_key)} AS primary_key")
        rows = f"(SELECT * REPLACE ({numbers} AS _row_number) FROM {table})"
        rejected = (f"SELECT {common}, __rejected.column AS column_name, "
                    f"CASE __rejected.rule WHEN 'excluded' THEN 'excluded' ELSE 'rejected' END AS severity, "
                    f"__rejected.reason AS reason, __raw_record AS raw_record, __rejected.rule AS rule, __file_order "
                    f"FROM {rows} WHERE __rejected IS NOT NULL")
        nulled = (f"SELECT {common}, __n.column, 'nulled', __n.reason, __raw_record, __n.rule, __file_order "
                  f"FROM (SELECT *, unnest(__nulled) AS __n FROM {rows} WHERE __nulled IS NOT NULL)")
        self.con.execute(f"INSERT INTO raw.quarantine SELECT * EXCLUDE (__file_order) FROM ({rejected} UNION ALL "
                         f"{nulled}) ORDER BY __file_order, row_number, severity, column_name")
        counts = self.con.execute(f"""
            SELECT count(*) FILTER (severity = 'rejected' AND rule NOT IN ('superseded', 'unmatched')),
                   count(*) FILTER (rule = 'superseded'),
                   count(*) FILTER (severity = 'nulled'),
                   count(*) FILTER (severity = 'excluded'),
                   count(*) FILTER (rule = 'unmatched')
            FROM raw.quarantine WHERE entity = {q(entity.name)}""").fetchone()
        (report.rows_rejected, report.rows_superseded, report.values_nulled, report.rows_excluded,
         report.rows_unmatched) = counts
        report.rows_kept = (report.rows_read - report.rows_rejected - report.rows_superseded
                            - report.rows_excluded - report.rows_unmatched)
        report.top_reasons = [(f"{col} {rule}" if col else rule, n) for col, rule, n in self.con.execute(f"""
            SELECT column_name, rule, count(*) AS n FROM raw.quarantine WHERE entity = {q(entity.name)}
            GROUP BY ALL ORDER BY n DESC, column_name, rule LIMIT 5""").fetchall()]

    def _enforce_threshold(self, entity: Entity, report: EntityReport) -> None:
        limit = self.contract.max_rejected_share
        if report.rows_read and report.rows_rejected / report.rows_read > limit:
            examples = self.con.execute(f"""
                SELECT reason, count(*) AS n FROM raw.quarantine
                WHERE entity = {q(entity.name)} AND severity = 'rejected' AND rule NOT IN ('superseded', 'unmatched')
                GROUP BY reason ORDER BY n DESC, reason LIMIT 3""").fetchall()
            kinds = Counter({k: n for k, n in report.top_reasons})
            raise LandingError(
                f"{entity.name}: {report.rows_rejected:,} of {report.rows_read:,} rows rejected "
                f"({report.rows_rejected / report.rows_read:.1%}, more than the allowed {limit:.0%}); "
                f"most common problems: {', '.join(f'{k} ({n:,})' for k, n in kinds.most_common(3))}; "
                f"for example: {'; '.join(r for r, _ in examples)}")

    def _enforce_match_rate(self, mapped: MappedEntity, report: EntityReport) -> None:
        """Stop when too few rows found their CRM account: the matching, not the data, is likely wrong."""
        limit = mapped.em.account.max_unmatched_share if mapped.em.account else 1.0
        considered = report.rows_read - report.rows_excluded
        if considered and report.rows_unmatched / considered > limit:
            raise LandingError(
                f"{mapped.describe()}: {report.rows_unmatched:,} of {considered:,} rows match no CRM account "
                f"({report.rows_unmatched / considered:.0%}, more than max_unmatched_share {limit:.0%}); "
                f"check {mapped.key('account')} (id map, e-mail and domain columns) and the CRM accounts' domains")

    def _create_empty(self, entity: Entity) -> None:
        """An absent optional entity: empty raw.<table>__landed and raw.<table>."""
        cols = [f"{ident(c.name)} {SQL_TYPES[c.type]}" for c in entity.columns]
        if entity.name in AMOUNT_COLUMNS:
            cols.append(f"{ident(AMOUNT_COLUMNS[entity.name] + '_usd')} DOUBLE")
        self.con.execute(f"CREATE OR REPLACE TABLE {landed(entity)} ({', '.join(cols)}, "
                         f"_row_number BIGINT, __file_order INTEGER, __rejected {PROBLEM}, __nulled {PROBLEM}[], "
                         f"__raw_record VARCHAR)")
        self._raw_view(entity, [], "_row_number")


def kept_rows(entity: Entity, files: list[str], numbers: str, table: str) -> str:
    """SQL: the rows of raw.<table>, the kept rows of the landed table `table`, with their file's name (`files`, in
    file order) and row number (`numbers`)."""
    cols = [ident(c.name) for c in entity.columns]
    if entity.name in AMOUNT_COLUMNS:
        cols.append(ident(AMOUNT_COLUMNS[entity.name] + "_usd"))
    return (f"SELECT {', '.join(cols)}, {rules.source_file(files)}, {numbers} AS _row_number FROM {table} "
            f"WHERE __rejected IS NULL")


def native_columns(entity: Entity, rel: str, header: list[str]) -> dict[str, str | None]:
    """Each contract column's column in the header of a file in the contract's own shape (names in any case), None
    for an optional column it lacks; raises LandingError when it lacks a required one."""
    by_name: dict[str, str] = {}
    for h in header:
        by_name.setdefault(h.strip().lower(), h)
    missing = [c for c in entity.required_columns if c not in by_name]
    if missing:
        raise LandingError(
            f"{entity.name}: file {rel} lacks required column(s) {', '.join(missing)}; "
            f"it has {', '.join(header)}; the contract expects {', '.join(c.name for c in entity.columns)} "
            f"(required: {', '.join(entity.required_columns)})")
    return {c.name: by_name.get(c.name) for c in entity.columns}


def upstream(entity: Entity) -> list[str]:
    """The entities a row of `entity` is checked against, ingested before it: crm/accounts for its account
    reference, reference/fx_rates for its amount."""
    references = list(dict.fromkeys(c.references for c in entity.columns if c.references))
    return references + (["reference/fx_rates"] if entity.name in AMOUNT_COLUMNS else [])


def ingest_entities(ingestor: Ingestor, names: Iterable[str]) -> Iterator[tuple[str, EntityReport | None, str]]:
    """Ingest the named entities in dependency order: (name, report, "") for each ingested, (name, None, why) for
    each that broke the contract. An entity whose upstream broke is left out: one run names every broken entity
    that does not depend on another."""
    failed: set[str] = set()
    for name in (n for n in ORDER if n in set(names)):
        if any(u in failed for u in upstream(ingestor.contract.entities[name])):
            continue
        try:
            yield name, ingestor.ingest(name), ""
        except LandingError as exc:
            failed.add(name)
            yield name, None, str(exc)


def ingest_all(con: duckdb.DuckDBPyConnection, landing: Path, refresh_id: str,
               mapping: Mapping | None = None) -> dict[str, EntityReport]:
    """Ingest every contract entity in dependency order, outside Dagster."""
    ingestor = Ingestor(con, landing, refresh_id, mapping)
    return {name: ingestor.ingest(name) for name in ORDER}
