"""The build database: one connection at a time, UTC, for the running refresh only."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import duckdb

from pipelines.paths import Paths

# DuckDB spills to disk beyond this, instead of taking the machine (override with ICP_DUCKDB_MEMORY).
MEMORY_LIMIT = os.environ.get("ICP_DUCKDB_MEMORY", "3GB")


@contextmanager
def warehouse(paths: Paths, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open `$ICP_HOME/warehouse.duckdb` (created on first use) and close it afterwards."""
    paths.home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(paths.warehouse), read_only=read_only)
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute(f"SET temp_directory = '{paths.home / 'tmp'}'")
        yield con
    finally:
        con.close()
