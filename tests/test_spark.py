"""The same refresh on Apache Spark (local mode, through dbt-spark): the same publication as DuckDB's.

Selected alone with `pytest -m spark`; it needs Java 17 (make setup checks for it)."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.paths import Paths
from pipelines.publish import check_publication
from schemas.contract import serving_contract

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_home(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path) -> Paths:
    """A home refreshed once on Spark from the same landing folder as `refreshed_home`."""
    from dagster_project.refresh import run_refresh

    paths = Paths.resolve(tmp_path_factory.mktemp("spark home"), demo_landing)
    outcome = run_refresh(paths, engine="spark")
    assert outcome.success, f"{outcome.failed_step}: {outcome.error}"
    return paths


@pytest.fixture()
def both(refreshed_home: Paths, spark_home: Paths) -> duckdb.DuckDBPyConnection:
    """The DuckDB publication as `duck`, Spark's as `spark`, read-only."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{refreshed_home.serving / 'icp.duckdb'}' AS duck (READ_ONLY)")
    con.execute(f"ATTACH '{spark_home.serving / 'icp.duckdb'}' AS spark (READ_ONLY)")
    yield con
    con.close()


def test_spark_publishes_every_serving_table_as_duckdb_does(both: duckdb.DuckDBPyConnection) -> None:
    assert check_publication(both, "spark") == []
    for table in serving_contract():
        duck, spark = (both.execute(f"DESCRIBE {db}.{table}").fetchall() for db in ("duck", "spark"))
        assert [c[:2] for c in spark] == [c[:2] for c in duck], table
        rows = [both.execute(f"SELECT count(*) FROM {db}.{table}").fetchone()[0] for db in ("duck", "spark")]
        assert rows[0] == rows[1], table


def test_spark_scores_and_ranks_as_duckdb(both: duckdb.DuckDBPyConnection) -> None:
    worst = both.execute("""SELECT max(abs(d.fit_score - s.fit_score)), count(*), count(s.account_id)
                            FROM duck.account_scores d LEFT JOIN spark.account_scores s USING (account_id)""").fetchone()
    assert worst[0] <= 0.01 and worst[1] == worst[2] > 0
    duck, spark = (both.execute(f"SELECT account_id FROM {db}.target_accounts ORDER BY rank").fetchall()
                   for db in ("duck", "spark"))
    assert spark == duck and len(spark) > 100
    # the rows are stored in rank order (BI tools show them so), as DuckDB's are
    assert [r[0] for r in both.execute("SELECT account_id FROM spark.target_accounts").fetchall()] == \
        [r[0] for r in spark]
    for table, key in [("icp_segments", "segment_id"), ("model_evaluation_tiers", "tier")]:
        assert both.execute(f"SELECT * FROM spark.{table} ORDER BY {key}").fetchall() == \
            both.execute(f"SELECT * FROM duck.{table} ORDER BY {key}").fetchall(), table
    assert both.execute("SELECT auc, value_auc FROM spark.model_evaluation").fetchall() == \
        both.execute("SELECT auc, value_auc FROM duck.model_evaluation").fetchall()
