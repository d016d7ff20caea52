"""The build database: one connection at a time, UTC, for the running refresh only."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import duckdb

from pipelines.paths import Paths


@contextmanager
def warehouse(paths: Paths, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open `$ICP_HOME/warehouse.duckdb` (created on first use) and close it afterwards."""
    paths.home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(paths.warehouse), read_only=read_only)
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()
