"""Publish a refresh: write every serving table to a new folder, then swap it in with one atomic rename.

`<home>/serving` is a symlink to `<home>/publications/<refresh_id>/`, which holds `icp.duckdb` and
`parquet/<table>.parquet`. A publication is written under a temporary name, checked against the serving
contract, and only then made live by replacing the symlink (rename(2) is atomic). A reader that opens
`serving/icp.duckdb` read-only always gets one whole publication, and never a file that is being written.

The publication's `icp.duckdb` starts as a copy of the scoring file (Paths.scoring_db), where the scoring step
wrote its tables in their published shape: the biggest tables are copied as file blocks, not written a second
time. account_features is copied from dbt's marts, with its descriptions (DuckDB comments, for BI tools).

target_accounts_history grows by a whole target list per refresh. The scoring
file therefore starts as a copy of the live publication's file with only that table kept (`start_scoring_file`),
and `publish` appends this refresh's rows to it: the history is copied as file blocks too, not written again. Its
Parquet is a dataset partitioned by the refresh's date: this refresh's rows are written, the earlier partitions'
files are hard links to the live publication's.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.sql import ident, q
from pipelines.paths import Paths
from pipelines.warehouse import SCORING, discard_scoring
from schemas.contract import SQL_TYPES, serving_contract

KEEP_PUBLICATIONS = 3
HISTORY = "target_accounts_history"
TMP_SUFFIX = ".partial"


class PublishError(RuntimeError):
    """The new publication does not meet the serving contract; the live one is left untouched."""


@dataclass(frozen=True)
class Publication:
    refresh_id: str
    folder: Path
    tables: dict[str, int]  # table -> rows

    @property
    def duckdb_path(self) -> Path:
        return self.folder / "icp.duckdb"


def _sources(has_previous: bool) -> dict[str, str]:
    """The SELECT behind each published table that the scoring file does not bring, over the build database
    (`prev` = the live publication). The refreshes table's takes this refresh's figures as query parameters."""
    refreshes = "SELECT * FROM prev.refreshes UNION ALL " if has_previous else ""
    return {
        "account_features": "SELECT * FROM marts.account_features",
        "quarantine": "SELECT * FROM raw.quarantine",
        "ingest_summary": "SELECT * FROM raw.ingest_summary ORDER BY entity",
        "refreshes": refreshes + """
            SELECT CAST($refresh_id AS VARCHAR) AS refresh_id, CAST($started_at AS TIMESTAMP) AS started_at,
                   CAST($published_at AS TIMESTAMP) AS published_at,
                   CAST($rows_ingested AS BIGINT) AS rows_ingested, CAST($rows_rejected AS BIGINT) AS rows_rejected,
                   (SELECT any_value(model_version) FROM scoring.model_evaluation) AS model_version,
                   (SELECT count(*) FROM scoring.target_accounts) AS n_targets,
                   (SELECT any_value(auc) FROM scoring.model_evaluation) AS auc""",
    }


def conformed(table: str, source: str) -> str:
    """`source` in the published shape of `table`: contract columns first, cast to their contract types, then
    every extra column of the source."""
    contract = serving_contract().get(table)
    if contract is None:
        return source
    casts = ", ".join(f"CAST({ident(c)} AS {SQL_TYPES[t]}) AS {ident(c)}" for c, t in contract.columns.items())
    return f"SELECT {casts}, * EXCLUDE ({', '.join(ident(c) for c in contract.columns)}) FROM ({source})"


def write_scoring_table(con: duckdb.DuckDBPyConnection, table: str, source: str, params: dict | None = None,
                        order_by: str | None = None) -> None:
    """Create `scoring.<table>` from `source` in its published shape: publications start as a copy of the
    scoring file, so what is written there is what BI tools read."""
    order = f" ORDER BY {order_by}" if order_by else ""
    con.execute(f"CREATE OR REPLACE TABLE {SCORING}.{ident(table)} AS {conformed(table, source)}{order}", params)


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'pub' "
                                      "ORDER BY table_name").fetchall()]


def check_publication(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    """Problems of a publication (an attached catalog) against the serving contract: missing tables or
    columns, or columns of the wrong type. Empty when the publication honours the contract."""
    problems, columns = [], {}
    for table_name, column, data_type in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            f"WHERE table_catalog = {q(catalog)} AND table_schema = 'main'").fetchall():
        columns.setdefault(table_name, {})[column] = data_type
    for name, table in serving_contract().items():
        actual = columns.get(name)
        if not actual:
            problems.append(f"table {name} is missing")
            continue
        for col, typ in table.columns.items():
            if col not in actual:
                problems.append(f"{name}.{col} is missing")
            elif actual[col] != SQL_TYPES[typ]:
                problems.append(f"{name}.{col} is {actual[col]}, not {SQL_TYPES[typ]}")
    return problems


def live_publication(paths: Paths) -> Path | None:
    """The live publication's folder, if there is one."""
    target = paths.serving
    return target.resolve() if target.is_symlink() and (target / "icp.duckdb").exists() else None


def previous_publication(paths: Paths) -> Path | None:
    """The publication a refresh carries history from: the live one, or, when the `serving` link is missing or
    broken, the newest complete publication left in `publications/` (partial ones are never renamed into place)."""
    live = live_publication(paths)
    if live is not None or not paths.publications.is_dir():
        return live
    complete = [p for p in paths.publications.iterdir()
                if p.is_dir() and not p.name.endswith(TMP_SUFFIX) and (p / "icp.duckdb").is_file()]
    return max(complete, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def publication_status(paths: Paths, refresh_id: str) -> str:
    """What BI tools read now, in words, for a message about refresh `refresh_id` (which may have failed)."""
    live = live_publication(paths)
    if live is None:
        return "nothing is published in this home yet"
    if live.name == refresh_id:
        return f"this refresh's publication ({refresh_id}) is live"
    return f"the previous publication ({live.name}) is still live, unchanged"


def _partial(paths: Paths, refresh_id: str) -> Path:
    return paths.publications / (refresh_id + TMP_SUFFIX)


def _copy_comments(con: duckdb.DuckDBPyConnection, source: tuple[str, str], target: str) -> None:
    """Give the table `target` the descriptions (DuckDB comments) of the table `source` (schema, name) of the build
    database and of its columns, which dbt wrote from the model's docs (on Spark, the pipeline: a view of Spark's
    table, pipelines/spark.py's `describe`)."""
    schema, table = source
    found = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
                        "AND schema_name = $schema AND table_name = $table UNION ALL "
                        "SELECT comment FROM duckdb_views() WHERE database_name = current_database() "
                        "AND schema_name = $schema AND view_name = $table", {"schema": schema, "table": table}
                        ).fetchone()
    if found and found[0]:
        con.execute(f"COMMENT ON TABLE {target} IS {q(found[0])}")
    for column, comment in con.execute(
            "SELECT column_name, comment FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = $schema AND table_name = $table AND comment IS NOT NULL",
            {"schema": schema, "table": table}).fetchall():
        con.execute(f"COMMENT ON COLUMN {target}.{ident(column)} IS {q(comment)}")


def _write_parquet(con: duckdb.DuckDBPyConnection, table: str, folder: Path) -> None:
    """Write `pub.main.<table>` as its Parquet file in the publication's parquet `folder`."""
    con.execute(f"COPY pub.main.{ident(table)} TO {q(str(folder / f'{table}.parquet'))} (FORMAT parquet)")


def _write_history_parquet(con: duckdb.DuckDBPyConnection, previous: Path | None, folder: Path, refresh_id: str,
                           rows: int) -> None:
    """Write target_accounts_history as its partitioned dataset in the publication's parquet `folder`: this
    refresh's rows as new files, the earlier partitions as hard links to the previous publication's files. When
    those are missing (a first publication, an older layout) or do not add up to the `rows` of the history, the
    whole history is written."""
    contract = serving_contract()[HISTORY]
    dataset = contract.parquet_path(folder)
    earlier = contract.parquet_path(previous / "parquet") if previous else None
    if earlier is not None and earlier.is_dir():
        _copy_history(con, dataset, refresh_id, only_this_refresh=True)
        _link_files(earlier, dataset)
        if _parquet_rows(con, contract.parquet_glob(folder)) == rows:
            return
        shutil.rmtree(dataset)
    _copy_history(con, dataset, refresh_id, only_this_refresh=False)


def _copy_history(con: duckdb.DuckDBPyConnection, dataset: Path, refresh_id: str, only_this_refresh: bool) -> None:
    """COPY the history (or only this refresh's rows) into the new folder `dataset`, partitioned by refresh date;
    the files are named for this refresh, so they never collide with earlier refreshes' files."""
    dataset.mkdir()
    where = "WHERE refresh_id = $refresh_id" if only_this_refresh else ""
    con.execute(f"COPY (SELECT *, CAST(scored_at AS DATE) AS refresh_date FROM pub.main.{HISTORY} {where}) "
                f"TO {q(str(dataset))} (FORMAT parquet, PARTITION_BY (refresh_date), "
                f"FILENAME_PATTERN {q(refresh_id + '_{i}')})",
                {"refresh_id": refresh_id} if only_this_refresh else None)


def _link_files(source: Path, target: Path) -> None:
    """Hard-link every file of the folder tree `source` into `target` (copied where a link cannot be made)."""
    for path in source.rglob("*.parquet"):
        to = target / path.relative_to(source)
        to.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, to)
        except OSError:
            shutil.copyfile(path, to)


def _parquet_rows(con: duckdb.DuckDBPyConnection, pattern: Path) -> int:
    return con.execute("SELECT count(*) FROM read_parquet($pattern, hive_partitioning = true)",
                       {"pattern": str(pattern)}).fetchone()[0]


def publish(con: duckdb.DuckDBPyConnection, paths: Paths, refresh_id: str, started_at: datetime,
            rows_ingested: int, rows_rejected: int) -> Publication:
    """Write the refresh's serving tables as a new publication and make it live atomically."""
    paths.publications.mkdir(parents=True, exist_ok=True)
    clean_stale(paths, keep=refresh_id)
    folder = paths.publications / refresh_id
    tmp = _partial(paths, refresh_id)
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "parquet").mkdir(parents=True)
    previous = previous_publication(paths)
    if previous:
        con.execute(f"ATTACH {q(str(previous / 'icp.duckdb'))} AS prev (READ_ONLY)")
    attached = False
    try:
        _append_history(con, previous is not None, refresh_id)
        con.execute(f"CHECKPOINT {SCORING}")  # every scoring table in the file itself, none left in its WAL
        shutil.copyfile(paths.scoring_db, tmp / "icp.duckdb")
        con.execute(f"ATTACH {q(str(tmp / 'icp.duckdb'))} AS pub")
        attached = True
        refresh = {"refresh_id": refresh_id, "started_at": started_at, "published_at": datetime.utcnow(),
                   "rows_ingested": rows_ingested, "rows_rejected": rows_rejected}
        for table, source in _sources(previous is not None).items():
            con.execute(f"CREATE TABLE pub.main.{ident(table)} AS {conformed(table, source)}",
                        refresh if table == "refreshes" else None)
        _copy_comments(con, ("marts", "account_features"), "pub.main.account_features")
        tables = {t: con.execute(f"SELECT count(*) FROM pub.main.{ident(t)}").fetchone()[0] for t in _tables(con)}
        for table in sorted(tables):
            if table == HISTORY:
                _write_history_parquet(con, previous, tmp / "parquet", refresh_id, tables[HISTORY])
            else:
                _write_parquet(con, table, tmp / "parquet")
        problems = check_publication(con, "pub")
        if problems:
            raise PublishError("the new publication breaks the serving contract: " + "; ".join(problems))
    finally:
        if previous:
            con.execute("DETACH prev")
        if attached:
            con.execute("DETACH pub")
    _fsync_tree(tmp)
    os.replace(tmp, folder)
    _fsync_dir(paths.publications)  # the rename itself is durable before `serving` points at the folder
    _swap_symlink(paths.serving, folder)
    _prune(paths, keep=folder)
    return Publication(refresh_id, folder, tables)


def start_scoring_file(paths: Paths) -> None:
    """Start the refresh's scoring file (Paths.scoring_db) as a copy of the live publication's `icp.duckdb` with
    only its target_accounts_history kept (the space of the tables dropped is reused by the new ones); a new,
    empty history when there is no publication or it cannot be copied (publish then writes the whole history)."""
    discard_scoring(paths)
    live = previous_publication(paths)
    try:
        if live is not None:
            shutil.copyfile(live / "icp.duckdb", paths.scoring_db)
        _keep_only_history(paths.scoring_db)
    except (OSError, duckdb.Error):
        discard_scoring(paths)
        _keep_only_history(paths.scoring_db)


def _keep_only_history(scoring_db: Path) -> None:
    """Drop every table of the scoring file but target_accounts_history, which is created empty when missing (the
    scoring models read it for the previous ranks)."""
    columns = ", ".join(f"{ident(c)} {SQL_TYPES[t]}" for c, t in serving_contract()[HISTORY].columns.items())
    with duckdb.connect(str(scoring_db)) as con:
        for (table,) in con.execute(f"SELECT table_name FROM duckdb_tables() WHERE table_name <> {q(HISTORY)}"
                                    ).fetchall():
            con.execute(f"DROP TABLE {ident(table)}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {HISTORY} ({columns})")
        con.execute("CHECKPOINT")


def _append_history(con: duckdb.DuckDBPyConnection, has_previous: bool, refresh_id: str) -> None:
    """Add this refresh's target list to the scoring file's target_accounts_history, which start_scoring_file began
    as the live publication's (`prev`): only the new rows are written. Rows of refreshes that were never published
    (a publish that failed after this) are removed first; a history that still differs from the live one (the
    file was started anew) is written again from it."""
    table = f"{SCORING}.{HISTORY}"
    new_history = (f"SELECT {q(refresh_id)} AS refresh_id, scored_at, account_id, rank, fit_score, fit_tier, "
                   f"priority_score FROM {SCORING}.target_accounts")
    exists = con.execute(f"SELECT count(*) FROM duckdb_tables() WHERE database_name = {q(SCORING)} "
                         f"AND table_name = {q(HISTORY)}").fetchone()[0]
    if has_previous and exists:
        kept = _refresh_ids(con, table)
        unpublished = kept - _refresh_ids(con, "prev.refreshes")
        if unpublished:  # a DELETE that scans the whole history only when it has something to remove
            con.execute(f"DELETE FROM {table} WHERE refresh_id IN ({', '.join(q(r) for r in sorted(unpublished))})")
        if kept - unpublished == _refresh_ids(con, f"prev.{HISTORY}"):
            con.execute(f"INSERT INTO {table} BY NAME {conformed(HISTORY, new_history)}")
            return
    history = f"SELECT * FROM prev.{HISTORY} UNION ALL " if has_previous else ""
    con.execute(f"CREATE OR REPLACE TABLE {table} AS {conformed(HISTORY, history + new_history)}")


def _refresh_ids(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(f"SELECT DISTINCT refresh_id FROM {table}").fetchall()}


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def _swap_symlink(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically (a new symlink renamed over the old one)."""
    if link.exists() and not link.is_symlink():
        link.rename(link.with_name(link.name + ".old"))  # a real folder from an older layout: keep it aside
    tmp_link = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(os.path.relpath(target, link.parent), tmp_link)
    os.replace(tmp_link, link)
    _fsync_dir(link.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the renames in `folder` durable."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def clean_stale(paths: Paths, keep: str | None = None) -> None:
    """Remove what a killed refresh left behind: partial publications (but refresh `keep`'s) and temporary
    symlinks."""
    if paths.publications.exists():
        for p in paths.publications.glob("*" + TMP_SUFFIX):
            if p.name != f"{keep}{TMP_SUFFIX}":
                shutil.rmtree(p, ignore_errors=True)
    for p in paths.home.glob(".serving.*.tmp"):
        p.unlink(missing_ok=True)


def _prune(paths: Paths, keep: Path) -> None:
    """Keep the newest publications (readers may still hold an older one open; unlinking is safe)."""
    folders = sorted((p for p in paths.publications.iterdir() if p.is_dir() and not p.name.endswith(TMP_SUFFIX)),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[KEEP_PUBLICATIONS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
