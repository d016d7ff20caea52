"""Appending one Parquet file's row groups to another's (pipelines/parquet_append.py): the result reads as both
files' rows, in order, to DuckDB and pyarrow alike; files it cannot append are refused, with nothing written."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.parquet_append import append

ROWS = """SELECT 'r{n}' AS refresh_id, TIMESTAMP '2026-01-01' + INTERVAL (i % 3) DAY AS scored_at,
                 'ACC-' || lpad(CAST(i AS VARCHAR), 7, '0') AS account_id, i AS rank, (i % 97) / 97 AS fit_score,
                 CASE WHEN i % 5 = 0 THEN NULL ELSE chr(CAST(65 + i % 4 AS INTEGER)) END AS fit_tier
          FROM range({start}, {start} + {count}) t(i)"""


def _write(con: duckdb.DuckDBPyConnection, path: Path, sql: str) -> Path:
    # Small row groups: several per file; dictionary columns get bloom filters, whose offsets must move too.
    con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 2048)")
    return path


def test_appended_rows_read_as_both_files_in_order(tmp_path: Path) -> None:
    con = duckdb.connect()
    base = _write(con, tmp_path / "base.parquet", ROWS.format(n=1, start=0, count=10_000))
    extra = _write(con, tmp_path / "extra.parquet", ROWS.format(n=2, start=5_000, count=7_000))
    out = tmp_path / "out.parquet"
    assert append(base, extra, out)

    both = f"SELECT * FROM '{base}' UNION ALL BY NAME SELECT * FROM '{extra}'"
    assert con.execute(f"SELECT count(*) FROM ({both})").fetchone()[0] == 17_000
    assert con.execute(f"SELECT * FROM '{out}'").fetchall() == con.execute(both).fetchall()  # same rows, same order
    meta = pq.ParquetFile(out).metadata
    assert meta.num_rows == 17_000
    assert meta.num_row_groups == pq.ParquetFile(base).metadata.num_row_groups + \
        pq.ParquetFile(extra).metadata.num_row_groups
    assert pa.concat_tables([pq.read_table(base), pq.read_table(extra)]).equals(pq.read_table(out))
    # Lookups that use the appended row groups' statistics and bloom filters find their rows.
    assert con.execute(f"SELECT count(*) FROM '{out}' WHERE refresh_id = 'r2'").fetchone()[0] == 7_000
    assert con.execute(f"SELECT rank FROM '{out}' WHERE account_id = 'ACC-0011999'").fetchall() == [(11_999,)]
    day_two = "WHERE scored_at = TIMESTAMP '2026-01-02' AND fit_tier = 'B'"
    assert con.execute(f"SELECT count(*) FROM '{out}' {day_two}").fetchone() == \
        con.execute(f"SELECT count(*) FROM ({both}) {day_two}").fetchone()


@pytest.mark.parametrize("extra_sql", [
    "SELECT 'r2' AS refresh_id, 1 AS rank",  # other columns
    ROWS.replace("i AS rank", "CAST(i AS INTEGER) AS rank").format(n=2, start=0, count=10),  # another type
])
def test_files_of_another_schema_are_refused(tmp_path: Path, extra_sql: str) -> None:
    con = duckdb.connect()
    base = _write(con, tmp_path / "base.parquet", ROWS.format(n=1, start=0, count=100))
    extra = _write(con, tmp_path / "extra.parquet", extra_sql)
    assert not append(base, extra, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    con = duckdb.connect()
    extra = _write(con, tmp_path / "extra.parquet", ROWS.format(n=2, start=0, count=100))
    for content in (b"", b"PAR1 but not a footer PAR1", b"refresh_id,rank\nr1,1\n"):
        base = tmp_path / "base.parquet"
        base.write_bytes(content)
        assert not append(base, extra, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
