"""The data checks of a refresh: pandera on account_features, and the Great Expectations suites (with their
Data Docs) on the tables about to be published. The Dagster asset checks call them; they only read."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb

if TYPE_CHECKING:
    import pyarrow as pa

from pipelines.paths import Paths
from pipelines.warehouse import to_pandas, warehouse

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@dataclass
class QualityReport:
    success: bool
    failures: list[str] = field(default_factory=list)
    docs_index: Path | None = None
    evaluated: int = 0


LOW_CARDINALITY = {"fit_tier", "lifecycle", "segment_id", "segment_kind", "kind"}
# What each suite reads, with the columns that need the whole table computed by the engine (schemas/expectations.py).
FRAMES = {
    "target_accounts": """SELECT t.*, s.lifecycle, g.kind AS segment_kind,
                                 row_number() OVER (ORDER BY t.rank) AS expected_rank,
                                 count(*) OVER (PARTITION BY t.account_id) AS rows_of_account
                          FROM scoring.target_accounts t
                          JOIN scoring.account_scores s USING (account_id)
                          LEFT JOIN scoring.icp_segments g ON g.segment_id = t.segment_id""",
    "account_scores": "SELECT *, count(*) OVER (PARTITION BY account_id) AS rows_of_account FROM scoring.account_scores",
    "icp_segments": "SELECT * FROM scoring.icp_segments",
}
BATCH_ROWS = 1_000_000  # rows of a table validated at a time: bounded memory at any number of accounts


def check_account_features(paths: Paths) -> tuple[int, list[str]]:
    """The rows of account_features, and its failures of the pandera schema (schemas/account_features.py),
    validated in DuckDB through pandera's Ibis backend: no row is loaded into Python."""
    import ibis

    from schemas.account_features import validate_account_features

    with warehouse(paths, read_only=True) as con:
        table = ibis.duckdb.from_connection(con).table("account_features", database="marts")
        return int(table.count().execute()), validate_account_features(table)


def _batches(reader) -> Iterator["pa.Table"]:
    """The record batches of `reader` as Arrow tables; one empty table when there are none (an empty table is
    validated too)."""
    import pyarrow as pa

    empty = True
    for batch in reader:
        empty = False
        yield pa.Table.from_batches([batch])
    if empty:
        yield reader.schema.empty_table()


def check_published_tables(paths: Paths) -> QualityReport:
    """check_scoring_tables on the home's warehouse, read-only, with the Data Docs under its reports."""
    with warehouse(paths, read_only=True) as con:
        return check_scoring_tables(con, paths.reports / "data_docs")


def _used_columns(expectations: list) -> list[str]:
    """The columns a suite reads (its expectations' columns, and those of their row conditions): only these
    are loaded into pandas."""
    used = {getattr(e, name) for e in expectations for name in ("column", "column_A", "column_B")
            if getattr(e, name, None)}
    for e in expectations:  # pandas row conditions name their columns before a comparison
        used |= set(re.findall(r"([A-Za-z_]\w*)\s*(?:==|!=|<=|>=|<|>)", str(getattr(e, "row_condition", None) or "")))
    return sorted(used) or ["1 AS one"]


def check_scoring_tables(con: duckdb.DuckDBPyConnection, docs_dir: Path) -> QualityReport:
    """Validate the scoring tables, each in batches of BATCH_ROWS rows (pandas), and write Data Docs HTML under
    `docs_dir`."""
    import great_expectations as gx

    from schemas.expectations import expectation_suite, suites

    n_targets = con.execute("SELECT count(*) FROM scoring.target_accounts").fetchone()[0]
    segment_ids = [r[0] for r in con.execute("SELECT segment_id FROM scoring.icp_segments").fetchall()]
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    docs_dir.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site(site_name="icp", site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    source = context.data_sources.add_pandas("icp")
    report = QualityReport(success=True)
    definitions = []
    expectation_sets = suites(n_targets, segment_ids)
    for table, expectations in expectation_sets.items():
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("refresh")
        suite = context.suites.add(expectation_suite(table, expectations))
        definitions.append((table, context.validation_definitions.add(
            gx.ValidationDefinition(name=table, data=batch, suite=suite))))
    for table, definition in definitions:
        # Few-valued text columns as categories, the others as Arrow strings: GX scans and hashes them several
        # times, and Python objects for a million values would be slow to make and to hash.
        columns = ", ".join(_used_columns(expectation_sets[table]))
        batches = con.execute(f"SELECT {columns} FROM ({FRAMES[table]})").fetch_record_batch(BATCH_ROWS)
        for batch in _batches(batches):
            result = definition.run(batch_parameters={"dataframe": to_pandas(batch, LOW_CARDINALITY,
                                                                             arrow_strings=True)})
            report.evaluated += len(result.results)
            for r in result.results:
                if not r.success:
                    cfg = r.expectation_config
                    report.failures.append(f"{table}.{cfg.kwargs.get('column', cfg.kwargs.get('column_A', ''))}: "
                                           f"{cfg.type} ({r.result.get('unexpected_count', '?')} unexpected, "
                                           f"e.g. {r.result.get('partial_unexpected_list', [])[:3]})")
            report.success &= bool(result.success)
    context.build_data_docs(site_names=["icp"])
    index = docs_dir / "index.html"
    report.docs_index = index if index.exists() else None
    return report
