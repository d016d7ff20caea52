"""How much of the machine DuckDB may take: a share of its memory, unless the environment names a limit. Beyond the
limit DuckDB spills to its temp directory instead of failing or taking the machine."""
from __future__ import annotations

import os

PIPELINE_SHARE = 1 / 8  # the refresh's own connections (ICP_DUCKDB_MEMORY): 3 GB of 24 GB
DBT_SHARE = 1 / 6       # dbt's connection (ICP_DBT_MEMORY): 4 GB of 24 GB; the refresh's process waits meanwhile


def memory_mb() -> int:
    """The machine's physical memory in MB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20


def duckdb_memory(variable: str, share: float) -> str:
    """DuckDB's memory_limit: the environment `variable` when set, else `share` of the machine's memory (1 GB
    at least)."""
    return os.environ.get(variable) or f"{max(int(memory_mb() * share), 1024)}MB"
