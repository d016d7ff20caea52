"""The build database: one connection at a time, UTC, for the running refresh only."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import duckdb

from pipelines.machine import PIPELINE_SHARE, duckdb_memory
from pipelines.sql import ident, q
from pipelines.paths import Paths

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# The scoring tables live in their own file (Paths.scoring_db), attached under this name: each publication
# starts as a copy of it.
SCORING = "scoring"


@contextmanager
def warehouse(paths: Paths, read_only: bool = False, compress: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open `$ICP_HOME/warehouse.duckdb` (created on first use) with the scoring tables attached as the catalog
    `scoring` (Paths.scoring_db), and close it afterwards. With `compress` off, what this connection writes is
    stored uncompressed: for tables written once and read once (the raw tables), where DuckDB's choice and
    work of compressing costs more than the larger file."""
    paths.home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(paths.warehouse), read_only=read_only)
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = {q(duckdb_memory('ICP_DUCKDB_MEMORY', PIPELINE_SHARE))}")
        con.execute(f"SET temp_directory = {q(str(paths.home / 'tmp'))}")
        if not compress:
            con.execute("SET force_compression = 'uncompressed'")
        _attach_scoring(con, paths, read_only)
        yield con
    finally:
        con.close()


def _attach_scoring(con: duckdb.DuckDBPyConnection, paths: Paths, read_only: bool) -> None:
    if read_only:
        if paths.scoring_db.exists():
            con.execute(f"ATTACH {q(str(paths.scoring_db))} AS {SCORING} (READ_ONLY)")
        return
    # Homes from before the scoring file hold its tables in a schema `scoring`, now the catalog's name.
    database = ident(con.execute("SELECT current_database()").fetchone()[0])
    con.execute(f"DROP SCHEMA IF EXISTS {database}.{SCORING} CASCADE")
    con.execute(f"ATTACH {q(str(paths.scoring_db))} AS {SCORING}")


def scoring_files(paths: Paths) -> tuple[Path, Path]:
    """The scoring file and its write-ahead log."""
    return paths.scoring_db, paths.scoring_db.with_name(paths.scoring_db.name + ".wal")


def discard_scoring(paths: Paths) -> None:
    """Remove the scoring file (no connection may hold it); publish.start_scoring_file starts the refresh's."""
    for file in scoring_files(paths):
        file.unlink(missing_ok=True)


def frame(con: duckdb.DuckDBPyConnection, sql: str, categories: Iterable[str] = (),
          arrow_strings: bool = False) -> "pd.DataFrame":
    """The query's rows as pandas, through Arrow (twice as fast as `.df()` on a million rows); see to_pandas."""
    return to_pandas(con.execute(sql).to_arrow_table(), categories, arrow_strings)


def to_pandas(table: "pa.Table", categories: Iterable[str] = (), arrow_strings: bool = False) -> "pd.DataFrame":
    """An Arrow table as pandas, DATE columns as datetime64 and the `categories` text columns as pandas categories
    (a million short strings become a million Python objects otherwise). With `arrow_strings`, the other text
    columns stay in Arrow memory (pandas' `string[pyarrow]`), for readers that only compare, count and hash them."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in set(categories) & set(table.column_names):
        i = table.column_names.index(name)
        table = table.set_column(i, name, pc.dictionary_encode(table.column(i)))
    strings = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}
    return table.to_pandas(date_as_object=False, types_mapper=strings.get if arrow_strings else None)


def drop_relation(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> None:
    """Drop the build database's table or view `schema.table`, if there is one (a table where the other engine
    makes a view, or the other way round)."""
    found = con.execute("SELECT table_type FROM information_schema.tables WHERE table_catalog = current_database() "
                        "AND table_schema = ? AND table_name = ?", [schema, table]).fetchone()
    if found:
        con.execute(f"DROP {'VIEW' if found[0] == 'VIEW' else 'TABLE'} {ident(schema)}.{ident(table)}")
