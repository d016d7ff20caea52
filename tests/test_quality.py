"""The validations that stop a refresh: pandera on account_features, Great Expectations on what gets published."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import ibis
import pytest

from pipelines.paths import Paths
from pipelines import quality
from pipelines.quality import check_scoring_tables
from schemas.account_features import validate_account_features


def _warehouse_copy(refreshed_home: Paths, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A copy of the refreshed warehouse, with a copy of its scoring tables attached as `warehouse()` does."""
    copy = Paths.resolve(tmp_path)
    shutil.copy(refreshed_home.warehouse, copy.warehouse)
    shutil.copy(refreshed_home.scoring_db, copy.scoring_db)
    con = duckdb.connect(str(copy.warehouse))
    con.execute(f"ATTACH '{copy.scoring_db}' AS scoring")
    return con


def test_expectations_pass_on_a_good_refresh_and_write_data_docs(refreshed_home: Paths) -> None:
    docs = refreshed_home.reports / "data_docs" / "index.html"
    assert docs.exists()  # written by the check during the refresh
    assert "target_accounts" in docs.read_text()


def test_expectations_fail_on_duplicate_ranks_and_customers_in_the_list(refreshed_home: Paths, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every expectation is about single rows (ranks against their position, accounts against their count, both
    computed by DuckDB over the whole table): batches of rows find what the whole table does."""
    con = _warehouse_copy(refreshed_home, tmp_path)
    failures = []
    con.execute("UPDATE scoring.target_accounts SET rank = 1 WHERE rank = 2")
    con.execute("""UPDATE scoring.account_scores SET lifecycle = 'customer'
                   WHERE account_id = (SELECT account_id FROM scoring.target_accounts WHERE rank = 5)""")
    # Text columns (read as Arrow strings): a repeated account and a missing reason.
    con.execute("""UPDATE scoring.target_accounts SET account_id = (SELECT account_id FROM scoring.target_accounts
                   WHERE rank = 3), reasons = NULL WHERE rank = 4""")
    for rows in (quality.BATCH_ROWS, 1000):  # one batch per table, then batches of 1,000 rows: the same failures
        monkeypatch.setattr(quality, "BATCH_ROWS", rows)
        report = check_scoring_tables(con, tmp_path / "docs")
        assert not report.success
        failures.append(" ".join(sorted({f.split(" (")[0] for f in report.failures})))
    assert failures[0] == failures[1]
    failed = " ".join(report.failures)
    assert "target_accounts.rank: expect_column_pair_values_to_be_equal" in failed  # ranks 1, 1, 3: not dense
    assert "target_accounts.lifecycle: expect_column_values_to_be_in_set" in failed
    assert "target_accounts.rows_of_account: expect_column_values_to_be_between (2 unexpected" in failed
    assert "target_accounts.reasons: expect_column_values_to_not_be_null" in failed


def test_pandera_names_the_failing_columns(refreshed_home: Paths, tmp_path: Path) -> None:
    """The schema runs in DuckDB (pandera's Ibis backend) and names each failing column, its check and examples."""
    con = _warehouse_copy(refreshed_home, tmp_path)
    tables = ibis.duckdb.from_connection(con)
    assert validate_account_features(tables.table("account_features", database="marts")) == []
    con.execute("""CREATE TABLE broken AS
        SELECT * REPLACE (CASE WHEN n = 1 THEN 3.0 ELSE paid_share END AS paid_share,
                          CASE WHEN n = 2 THEN 'lead' ELSE lifecycle END AS lifecycle,
                          CASE WHEN n = 3 THEN activities_90d + 1 ELSE activities_30d END AS activities_30d)
        FROM (SELECT *, row_number() OVER (ORDER BY account_id) AS n FROM marts.account_features)
        UNION ALL SELECT *, 0 FROM (SELECT * FROM marts.account_features ORDER BY account_id LIMIT 1)""")
    failures = validate_account_features(tables.table("broken"))
    assert any(f.startswith("paid_share: in_range(0, 1) (1 rows, e.g. {'paid_share': 3.0}") for f in failures)
    assert "account_id: not unique (one row per account expected)" in failures
    assert any(f.startswith("lifecycle: isin") and "lead" in f for f in failures)
    assert any(f.startswith("account_features: activities_30d exceeds activities_90d (1 rows") for f in failures)
    assert len(failures) == 4


def _accounts(home: Paths) -> int:
    with duckdb.connect(str(home.scoring_db), read_only=True) as con:
        return con.execute("SELECT count(*) FROM account_features").fetchone()[0]
