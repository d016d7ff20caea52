"""Compile a source mapping (pipelines/mapping.py) into the SQL that loads one file into the text table `land`:
contract columns as text, plus how the row's account was matched and whether the mapping's `where` excluded it.

The mapped files are read, and the mapping's expressions run, on a sandbox connection of their own that can read
those landing files and nothing else (pipelines/mapping_sandbox.py); the ingest step then copies `land` into the
build database, where the contract's row rules run on it exactly as for native files.
"""
from __future__ import annotations

import fnmatch
import functools
from pathlib import Path

import duckdb

from pipelines.landing_files import EXTENSIONS, LandingError, inside_landing, text_reader, text_value
from pipelines.sql import ident, q
from pipelines.mapping import ColumnSpec, EntityMapping, IdMap, Join, Mapping, normalised
from pipelines.mapping_sandbox import sandbox
from schemas.contract import Entity

# Mail services whose domain says nothing about the company.
FREE_MAIL = ("gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "msn.com",
             "icloud.com", "me.com", "aol.com", "gmx.com", "gmx.de", "web.de", "proton.me", "protonmail.com",
             "mail.ru", "yandex.ru", "qq.com", "163.com")
MACROS = [
    # A number from text; NULL when it is not one. Source columns are text in mapping expressions.
    "CREATE OR REPLACE TEMP MACRO num(x) AS TRY_CAST(trim(CAST(x AS VARCHAR)) AS DOUBLE)",
    # A website or e-mail domain reduced to its bare host: no scheme, www., path or port; lower case.
    r"""CREATE OR REPLACE TEMP MACRO icp_domain(x) AS nullif(regexp_replace(regexp_replace(split_part(
        regexp_replace(lower(trim(CAST(x AS VARCHAR))), '^[a-z]+://', ''), '/', 1), '^www\.', ''), ':[0-9]+$', ''), '')""",
]
NO_IDS = "(SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS account_id WHERE false)"  # an empty id map
TYPE_MISMATCH = ("Could not choose a best candidate function", "No function matches")


def matching_files(landing: Path, patterns: list[str]) -> list[Path]:
    """Landing files whose path (relative, any case) matches a pattern, or lies under a matching folder."""
    found = set()
    for path in landing.rglob("*"):
        if not path.is_file() or not path.name.lower().endswith(EXTENSIONS):
            continue
        rel = path.relative_to(landing).as_posix().lower()
        parents = [p.as_posix() for p in Path(rel).parents if p.as_posix() != "."]
        for pattern in patterns:
            pat = pattern.lower().strip("/")
            if fnmatch.fnmatch(rel, pat) or any(fnmatch.fnmatch(p, pat) for p in parents):
                found.add(inside_landing(landing, path))
    return sorted(found, key=lambda p: p.relative_to(landing).as_posix())


class Header:
    """A file's column names, found exactly (any case) or by their normalised form (StageName ~ stage_name)."""

    def __init__(self, names: list[str]):
        self.names = names
        self._exact = {}
        self._loose = {}
        for n in names:
            self._exact.setdefault(n.strip().lower(), n)
            self._loose.setdefault(normalised(n), n)

    def find(self, name: str) -> str | None:
        return self._exact.get(name.strip().lower()) or self._loose.get(normalised(name))


class MappedEntity:
    """One contract entity read through its mapping: which files, and the INSERT that loads each into `land`.

    `con` is the sandbox (see the module's docstring); `build` the build database, read only for the CRM's account
    domains and contact e-mails that account matching looks up.
    """

    def __init__(self, build: duckdb.DuckDBPyConnection, landing: Path, mapping: Mapping, entity: Entity):
        self.build, self.landing, self.mapping, self.entity = build, landing, mapping, entity
        self.em: EntityMapping = mapping.entities[entity.name]
        self.base: EntityMapping = mapping.entities[self.em.from_] if self.em.from_ else self.em
        self.derived = self.em.from_ is not None

    @functools.cached_property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The sandbox the mapped files are read on (opened when first used)."""
        con = sandbox(self._readable())
        for macro in MACROS:
            con.execute(macro)
        return con

    def _readable(self) -> list[Path]:
        """Every landing file this entity's mapping may read: its files, its joins' and its id map's."""
        patterns = list(self.base.files or [])
        for join in self.base.join:
            patterns += join.files
        if self.em.account is not None and self.em.account.id_map is not None:
            patterns.append(self.em.account.id_map.file)
        return matching_files(self.landing, patterns)

    def close(self) -> None:
        if "con" in self.__dict__:
            self.con.close()

    def key(self, *keys: str) -> str:
        return self.mapping.where_key(self.entity.name, *keys)

    def files(self) -> list[Path]:
        return matching_files(self.landing, self.base.files or [])

    def describe(self) -> str:
        what = f"derived from {self.em.from_}" if self.derived else "mapped"
        return f"{self.entity.name} ({what} by {self.mapping.source})"

    # -- per file ------------------------------------------------------------------------------------
    def insert(self, path: Path, order: int, reader: str, row_number: str, header: list[str]) -> str:
        """The INSERT that loads one source file into `land` (text columns, match and exclusion)."""
        rel = path.relative_to(self.landing).as_posix()
        cols = Header(header)
        values = [self._column(c.name, cols, rel) for c in self.entity.columns]
        joins = [self._join(j, cols, rel) for j in self.base.join]
        match_cols, match_joins = self._account_match(cols, rel)
        excluded = "NULL"
        filter_sql = ""
        if self.em.where is not None:
            keep = f"coalesce(({self.em.where.sql}), false)"
            if self.derived:
                filter_sql = f"WHERE {keep}"
            else:
                excluded = f"CASE WHEN NOT {keep} THEN {q(self.em.where.reason)} END"
        names = ", ".join(ident(c.name) for c in self.entity.columns)

        def insert(source: str) -> str:
            return (f"INSERT INTO land (__file, __file_order, __row, {names}, __match, __match_reason, __excluded) "
                    f"SELECT {q(rel)}, {order}, __row, {', '.join(values)}, {match_cols}, {excluded} "
                    f"FROM {source} src {' '.join(joins + match_joins)} {filter_sql}")

        sql = insert(f"(SELECT t AS __text, t.* FROM (SELECT *, {row_number} AS __row FROM {reader}) t)")
        try:
            self.con.execute(f"EXPLAIN {sql}")
        except duckdb.BinderException as exc:
            if not any(m in str(exc) for m in TYPE_MISMATCH):
                raise
            # An expression does arithmetic on a text column (e.g. `arr_amount / 12`): give the expressions
            # the file's all-numeric columns as numbers (renamed columns still come from the text).
            sql = insert(self._typed_source(reader, row_number, header))
        return sql

    def _typed_source(self, reader: str, row_number: str, header: list[str]) -> str:
        checks = ", ".join(
            f"count(NULLIF(trim({ident(h)}), '')) > 0 AND "
            f"count(NULLIF(trim({ident(h)}), '')) = count(TRY_CAST(trim({ident(h)}) AS DOUBLE))" for h in header)
        numeric = [h for h, ok in zip(header, self.con.execute(f"SELECT {checks} FROM {reader}").fetchone()) if ok]
        replace = ""
        if numeric:
            replace = " REPLACE (" + ", ".join(f"TRY_CAST(trim({ident(h)}) AS DOUBLE) AS {ident(h)}"
                                               for h in numeric) + ")"
        return f"(SELECT t AS __text, t.*{replace} FROM (SELECT *, {row_number} AS __row FROM {reader}) t)"

    def _source(self, spec: ColumnSpec, cols: Header, rel: str, where: str, required: bool) -> str:
        """SQL for the spec's raw value (before value maps and formats)."""
        if spec.sql is not None:
            return f"({spec.sql})"
        if spec.value is not None:
            return q(spec.value)
        for candidate in spec.column or []:
            found = cols.find(candidate)
            if found is not None:
                return f"__text.{ident(found)}"
        if spec.optional and not required:
            return "NULL"
        raise LandingError(f"{self.entity.name}: {where} names column {' or '.join(spec.column or [])}, which file "
                           f"{rel} lacks; it has {', '.join(cols.names)}")

    def _column(self, name: str, cols: Header, rel: str) -> str:
        """SQL giving the contract column's value as trimmed text (NULL when empty)."""
        contract_col = next(c for c in self.entity.columns if c.name == name)
        spec = self.em.columns.get(name)
        if name == "account_id" and self.em.account is not None:
            return "CAST(coalesce(__im.account_id, __ce.account_id, __ed.account_id, __dd.account_id) AS VARCHAR)"
        if spec is None:  # not mapped: a source column of the same name, if any
            found = cols.find(name)
            if found is None:
                if contract_col.required:
                                raise LandingError(
                        f"{self.entity.name}: file {rel} has no column {name} (required) and {self.key('columns')} "
                        f"gives no source for it; the file has {', '.join(cols.names)}")
                return "NULL"
            return text_value(f"__text.{ident(found)}")
        v = f"NULLIF(trim(CAST({self._source(spec, cols, rel, self.key('columns', name), contract_col.required)} "
        v += "AS VARCHAR)), '')"
        if spec.values:
            whens = " ".join(f"WHEN {q(k.strip().lower())} THEN {'NULL' if val is None else q(val)}"
                             for k, val in spec.values.items() if k != "*")
            other = v
            if "*" in spec.values:
                other = "NULL" if spec.values["*"] is None else q(spec.values["*"])
            v = f"CASE lower({v}) {whens} ELSE {other} END"
        if spec.split:
            v = f"NULLIF(trim(split_part({v}, {q(spec.split)}, 1)), '')"
        if spec.format == "epoch":
            v = f"coalesce(strftime(to_timestamp(num({v})), '%Y-%m-%d %H:%M:%S'), {v})"
        elif spec.format:
            v = f"coalesce(strftime(try_strptime({v}, {q(spec.format)}), '%Y-%m-%d %H:%M:%S'), {v})"
        return v

    def _join(self, join: Join, cols: Header, rel: str) -> str:
        on = next((found for found in map(cols.find, join.on) if found), None)
        if on is None:
            raise LandingError(f"{self.entity.name}: {self.key('join', join.as_, 'on')} names column "
                               f"{' or '.join(join.on)}, which file {rel} lacks; it has {', '.join(cols.names)}")
        parts = []
        for f, reader, row_number, header in self._read_side_files(join.files, self.key("join", join.as_, "files")):
            key = header.find(join.key or on)
            if key is None:
                raise LandingError(f"{self.entity.name}: {self.key('join', join.as_, 'key')}: file "
                                   f"{f.relative_to(self.landing).as_posix()} has no column {join.key or on}")
            parts.append(f"SELECT trim({ident(key)}) AS __k, {row_number} AS __r, j AS {ident(join.as_)} "
                         f"FROM {reader} j")
        union = " UNION ALL BY NAME ".join(parts)
        alias = ident("__j_" + join.as_)
        return (f"LEFT JOIN (SELECT DISTINCT ON (__k) __k, {ident(join.as_)} FROM ({union}) ORDER BY __k, __r) "
                f"{alias} ON {alias}.__k = trim(__text.{ident(on)})")

    def _read_side_files(self, patterns: list[str], key: str) -> list[tuple[Path, str, str, Header]]:
        """The files a join or an id map reads: each with its text reader, row-number expression and header."""
        files = matching_files(self.landing, patterns)
        if not files:
            raise LandingError(f"{self.entity.name}: {key} ({', '.join(patterns)}) matches no file under "
                               f"{self.landing}")
        out = []
        for f in files:
            reader, row_number = text_reader(f)
            header = Header([r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()])
            out.append((f, reader, row_number, header))
        return out

    # -- account matching ----------------------------------------------------------------------------
    def _account_match(self, cols: Header, rel: str) -> tuple[str, list[str]]:
        """(match method, unmatched reason) columns and the joins that find the row's CRM account."""
        match = self.em.account
        if match is None:
            return "NULL, NULL", []
        lookups = self._lookups
        key = self.key("account")
        id_sql = email = domain = "NULL"
        if match.id is not None:
            id_sql = f"NULLIF(trim(CAST({self._source(match.id, cols, rel, key + '.id', True)} AS VARCHAR)), '')"
        if match.email is not None:
            email = f"lower(NULLIF(trim(CAST({self._source(match.email, cols, rel, key + '.email', True)} AS VARCHAR)), ''))"
        if match.domain is not None:
            domain = f"icp_domain({self._source(match.domain, cols, rel, key + '.domain', True)})"
        email_domain = f"icp_domain(CASE WHEN {email} LIKE '%@%' THEN split_part({email}, '@', 2) END)"
        free = ", ".join(q(d) for d in FREE_MAIL)
        joins = [
            f"LEFT JOIN {lookups['id_map']} __im ON __im.id = {id_sql}",
            f"LEFT JOIN {lookups['emails']} __ce ON __ce.email = {email}",
            f"LEFT JOIN __icp_account_domains __ed ON __ed.domain = {email_domain} AND {email_domain} NOT IN ({free})",
            f"LEFT JOIN __icp_account_domains __dd ON __dd.domain = {domain}",
        ]
        method = ("CASE WHEN __im.account_id IS NOT NULL THEN 'id_map' WHEN __ce.account_id IS NOT NULL THEN 'email' "
                  "WHEN __ed.account_id IS NOT NULL THEN 'email_domain' "
                  "WHEN __dd.account_id IS NOT NULL THEN 'domain' END")
        id_map_name = match.id_map.file if match.id_map and "__icp_id_map" in lookups["id_map"] else None
        tried = ", ".join([
            f"'id ''' || {id_sql} || '''" + (f" (not in {id_map_name})'" if id_map_name else "'"),
            f"'e-mail ''' || {email} || ''''",
            f"'domain ''' || {domain} || ''''",
        ])
        reason = (f"CASE WHEN {method} IS NULL THEN 'no CRM account matches ' || "
                  f"coalesce(NULLIF(concat_ws(', ', {tried}), ''), 'this row: it has no id, e-mail or domain') END")
        return f"{method}, {reason}", joins

    @functools.cached_property
    def _lookups(self) -> dict[str, str]:
        """Temp tables of the sandbox, built once per entity (not per file): CRM account domains (unambiguous
        only), contact e-mails (both copied in from the build database), and the id map."""
        self._copy_in("__icp_account_domains", "SELECT domain, account_id FROM raw.crm_accounts")
        self.con.execute("""CREATE OR REPLACE TEMP TABLE __icp_account_domains AS
            SELECT icp_domain(domain) AS domain, min(account_id) AS account_id FROM __icp_account_domains
            WHERE icp_domain(domain) IS NOT NULL GROUP BY ALL HAVING count(*) = 1""")
        emails = "(SELECT NULL::VARCHAR AS email, NULL::VARCHAR AS account_id WHERE false)"
        has_contacts = self.build.execute(
            "SELECT count(*) FROM duckdb_views() WHERE schema_name = 'raw' AND view_name = 'crm_contacts'"
        ).fetchone()[0]
        if has_contacts and self.entity.name != "crm/contacts":
            self._copy_in("__icp_contact_emails", """
                SELECT lower(trim(email)) AS email, min(account_id) AS account_id FROM raw.crm_contacts
                WHERE email IS NOT NULL GROUP BY ALL HAVING count(DISTINCT account_id) = 1""")
            emails = "__icp_contact_emails"
        id_map = NO_IDS
        spec = self.em.account.id_map
        if spec is not None:
            id_map = self._id_map(spec)
        return {"emails": emails, "id_map": id_map}

    def _id_map(self, spec: IdMap) -> str:
        if not spec.required and not matching_files(self.landing, [spec.file]):
            return NO_IDS
        parts = []
        for f, reader, row_number, header in self._read_side_files([spec.file], self.key("account", "id_map", "file")):
            cols = [header.find(spec.id), header.find(spec.account_id)]
            if None in cols:
                raise LandingError(f"{self.entity.name}: id map {f.relative_to(self.landing).as_posix()} needs "
                                   f"columns {spec.id} and {spec.account_id}; it has {', '.join(header.names)}")
            parts.append(f"SELECT trim({ident(cols[0])}) AS id, trim({ident(cols[1])}) AS account_id, "
                         f"{row_number} AS __r FROM {reader}")
        self.con.execute(f"""CREATE OR REPLACE TEMP TABLE __icp_id_map AS
            SELECT DISTINCT ON (id) id, account_id FROM ({' UNION ALL '.join(parts)})
            WHERE id <> '' AND account_id <> '' ORDER BY id, __r""")
        return "__icp_id_map"

    def _copy_in(self, table: str, query: str) -> None:
        """The result of `query` on the build database as the sandbox's temp table `table` (streamed as Arrow)."""
        self.con.register("__icp_copied", self.build.execute(query).to_arrow_reader())
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM __icp_copied")
        finally:
            self.con.unregister("__icp_copied")

    def land(self):
        """The sandbox's `land` table, streamed as Arrow record batches (for the build database to copy)."""
        return self.con.execute("SELECT * FROM land").to_arrow_reader()

    # -- after all files ------------------------------------------------------------------------------
    def keep_first(self) -> None:
        """For `first_per`: keep one row per key in `land`, the first by order_by (then file and row)."""
        fp = self.em.first_per
        if fp is None:
            return
        key, order = ident(fp.key), ident(fp.order_by)
        self.con.execute(f"""DELETE FROM land WHERE (__file, __row) NOT IN (
            SELECT __file, __row FROM land WHERE {key} IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY {key}
                ORDER BY TRY_CAST({order} AS TIMESTAMP) NULLS LAST, {order}, __file_order, __row) = 1)""")
