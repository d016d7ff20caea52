"""The validations that stop a refresh: pandera on account_features, Great Expectations on what gets published."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from pipelines.paths import Paths
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


def test_expectations_fail_on_duplicate_ranks_and_customers_in_the_list(refreshed_home: Paths, tmp_path: Path) -> None:
    con = _warehouse_copy(refreshed_home, tmp_path)
    con.execute("UPDATE scoring.target_accounts SET rank = 1 WHERE rank = 2")
    con.execute("""UPDATE scoring.account_scores SET lifecycle = 'customer'
                   WHERE account_id = (SELECT account_id FROM scoring.target_accounts WHERE rank = 5)""")
    # Text columns (read as Arrow strings): a repeated account and a missing reason.
    con.execute("""UPDATE scoring.target_accounts SET account_id = (SELECT account_id FROM scoring.target_accounts
                   WHERE rank = 3), reasons = NULL WHERE rank = 4""")
    report = check_scoring_tables(con, tmp_path / "docs")
    assert not report.success
    failed = " ".join(report.failures)
    assert "target_accounts.rank: expect_column_values_to_be_unique" in failed
    assert "target_accounts.lifecycle: expect_column_values_to_be_in_set" in failed
    assert "target_accounts.account_id: expect_column_values_to_be_unique" in failed
    assert "target_accounts.reasons: expect_column_values_to_not_be_null" in failed


def test_pandera_names_the_failing_columns(refreshed_home: Paths, tmp_path: Path) -> None:
    con = _warehouse_copy(refreshed_home, tmp_path)
    frame = con.execute("SELECT * FROM marts.account_features").df()
    assert validate_account_features(frame) == []
    frame.loc[0, "paid_share"] = 3.0
    frame.loc[1, "account_id"] = frame.loc[2, "account_id"]
    frame.loc[3, "lifecycle"] = "lead"
    failures = validate_account_features(frame)
    assert any(f.startswith("paid_share: in_range(0, 1)") for f in failures)
    assert any(f.startswith("account_id: field_uniqueness") for f in failures)
    assert any(f.startswith("lifecycle: isin") and "lead" in f for f in failures)



def _accounts(home: Paths) -> int:
    with duckdb.connect(str(home.scoring_db), read_only=True) as con:
        return con.execute("SELECT count(*) FROM account_features").fetchone()[0]
