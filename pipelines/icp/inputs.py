"""What scoring reads first from account_features: the models' frame and the levels learned without labels.

The check of account_features (pipelines/quality.py) runs on one core in the worker process, just before the
scoring call in the same process. It reads these inputs ahead (`read_ahead`), beside its own work, on the core it
leaves idle; the scoring call then `take`s them instead of reading them again (at a million accounts, run back to
back: about 1.8 s less scoring for about 1 s more check). They are taken only while the scoring file is the one
they were read from, and only once.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from pipelines.icp.attributes import FEATURES, Encoding, learn_encoding
from pipelines.paths import Paths
from pipelines.warehouse import frame, scoring_files

# What the models need in pandas, in account_id order (ids, names, domains, owners and technologies stay in DuckDB;
# the attribute levels come as integer codes, pipelines/icp/attributes.py).
FEATURE_COLUMNS = """industry, employee_count, annual_revenue, region, lead_source, lifecycle,
    customer_since, is_churned, tenure_months, months_to_churn,
    current_mrr, current_arr, mrr_12m_ago, lifetime_paid_revenue, expansion_revenue, expansion_won_amount,
    subscriptions, invoices, paid_share, uncollectible_invoices, tickets, tickets_per_month, won_deals, lost_deals,
    won_amount, first_won_date, last_closed_at, open_opportunities, engagement_points, as_of"""


@dataclass(frozen=True)
class ScoringInputs:
    features: pd.DataFrame  # FEATURE_COLUMNS, one row per account in account_id order
    encoding: Encoding  # learn_encoding's levels, before the supervised size bands


def read_inputs(con: duckdb.DuckDBPyConnection, size_bins: int) -> ScoringInputs:
    """The scoring inputs, read from account_features on `con`."""
    return ScoringInputs(frame(con, f"SELECT {FEATURE_COLUMNS} FROM {FEATURES} ORDER BY account_id"),
                         learn_encoding(con, size_bins))


_kept: tuple[tuple, ScoringInputs] | None = None  # one refresh's inputs at most, with what they were read from


def _source(paths: Paths, size_bins: int) -> tuple:
    """What inputs are read from: the scoring file and its write-ahead log as they are now (None for one that is
    absent), and the size bands."""
    def stamp(file: Path) -> tuple[int, int] | None:
        try:
            stat = file.stat()
        except FileNotFoundError:
            return None
        return stat.st_size, stat.st_mtime_ns

    return str(paths.scoring_db.resolve()), size_bins, *(stamp(f) for f in scoring_files(paths))


@contextmanager
def read_ahead(con: duckdb.DuckDBPyConnection, paths: Paths, size_bins: int) -> Iterator[None]:
    """Read the scoring inputs on a cursor of `con` (the home's warehouse, opened read-only) in a thread while the
    block runs, and keep them for `take`. If the read fails, nothing is kept: scoring then reads them itself, and
    reports what is wrong."""
    global _kept
    _kept, read = None, []
    source = _source(paths, size_bins)

    def run() -> None:
        try:
            with con.cursor() as cursor:
                read.append(read_inputs(cursor, size_bins))
        except duckdb.Error:
            pass

    thread = threading.Thread(target=run, name="scoring-inputs-ahead", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if read:
        _kept = (source, read[0])


def take(paths: Paths, size_bins: int) -> ScoringInputs | None:
    """The inputs read ahead from this home's scoring file as it is now, if any (each reading is taken once)."""
    global _kept
    kept, _kept = _kept, None
    if kept is None or kept[0] != _source(paths, size_bins):
        return None
    return kept[1]


def discard() -> None:
    """Drop the inputs read ahead (the check failed: no scoring follows)."""
    global _kept
    _kept = None
