"""The same refresh on Apache Spark (local mode, through dbt-spark): the same publication as DuckDB's, the same
ingest (rows kept, quarantined, counted) and the landing contract's rules judging each value alike.

Selected alone with `pytest -m spark`; it needs Java 17 (make setup checks for it)."""
from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from pipelines import contract_rules as rules
from pipelines.demo import generate
from pipelines.ingest import ORDER, ingest_all
from pipelines.mapping import mapping_for
from pipelines.paths import PROJECT_ROOT, Paths
from pipelines.publish import check_publication
from pipelines.spark import spark_session
from pipelines.spark_ingest import SparkIngestor
from pipelines.spark_sql import to_spark
from pipelines.sql import q
from schemas.contract import Column, landing_contract, serving_contract

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
    # account_features keeps the model's descriptions for BI tools (DuckDB comments), as on DuckDB
    described = [both.execute(
        f"SELECT comment FROM duckdb_tables() WHERE database_name = '{db}' AND table_name = 'account_features' "
        f"UNION ALL SELECT column_name || ': ' || comment FROM duckdb_columns() WHERE database_name = '{db}' "
        f"AND table_name = 'account_features' ORDER BY ALL").fetchall() for db in ("duck", "spark")]
    assert described[1] == described[0] and len(described[0]) > 20


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


# -- the ingest ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """A Spark session in local mode, as the ingest starts it."""
    with spark_session(Paths.resolve(tmp_path_factory.mktemp("spark session"))) as session:
        yield session


VALUES = [None, "12", "12.0", "-3", "+4", "1e3", "1.5", "abc", " 7", "9999999999999999999", "inf", "-Infinity",
          "NaN", "1,5", "true", "Yes", "N", "F", "2", "2024-01-05", "2024-1-5", "2024-01-05 10:20",
          "2024-01-05T10:20:30", "2024-01-05 10:20:30.123456", "2024-01-05T10:20:30Z", "2024-01-05T10:20:30+02:00",
          "2205-01-01", "1700-12-31", "05/01/2024", "2024-02-30", "20240105", "2024-01-05T25:00", "Paid", "PAID"]
COLUMNS = [Column(name="c", type="integer", required=True, range=(0, None)),
           Column(name="c", type="decimal", required=False, range=(0, 100)),
           Column(name="c", type="boolean", required=False), Column(name="c", type="date", required=False),
           Column(name="c", type="timestamp", required=True),
           Column(name="c", type="string", required=False, allowed=["paid", "open"])]


@pytest.mark.parametrize("col", COLUMNS, ids=[c.type for c in COLUMNS])
def test_the_contract_rules_judge_each_value_alike_on_both_engines(spark, col: Column) -> None:
    """Each value's kept parse and problem (rule and reason) are the same from the rules rendered for Spark."""
    values = ", ".join(f"({q(v) if v is not None else 'NULL'})" for v in VALUES)
    parsed = f"SELECT v, {rules.parse(col, 'v')} AS p FROM (VALUES {values}) t(v)"
    sql = (f"SELECT v, e, CASE WHEN e IS NULL THEN p END AS kept FROM "
           f"(SELECT v, p, {rules.problem(col, 'v', 'p')} AS e FROM ({parsed}))")
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    on_duckdb = [(v, e and (e["rule"], e["reason"]), kept) for v, e, kept in duck.execute(sql).fetchall()]
    on_spark = [(r.v, r.e and (r.e.rule, r.e.reason), r.kept) for r in spark.sql(to_spark(sql)).collect()]
    assert on_spark == on_duckdb
    assert any(e for _, e, _ in on_duckdb) and any(k is not None for *_, k in on_duckdb)


def _hostile_landing(root: Path) -> Path:
    """A small demo landing with rows that break each kind of rule, in the contract's layout: a repeated key, a
    key a later export replaces, an unknown account, values of the wrong type or out of range, a currency without
    a rate, a time with an offset, a quoted value across lines."""
    landing = root / "landing"
    generate(landing, accounts=120, seed=5)

    def append(name: str, changes: list[dict[str, str]], to: Path | None = None) -> None:
        path = landing / f"{name}.csv"
        header, first = list(csv.reader(path.open()))[:2]
        with (to or path).open("a", newline="") as f:
            if to is not None:
                csv.writer(f, lineterminator="\n").writerow(header)
            csv.writer(f, lineterminator="\n").writerows(
                [[{**dict(zip(header, first)), **change}[h] for h in header] for change in changes])

    append("crm/accounts", [{}, {"account_id": " spaced ", "employee_count": "12.0"},
                            {"account_id": "x1", "employee_count": "abc"},
                            {"account_id": "x2", "created_at": "2024-01-05T10:20:30+02:00"},
                            {"account_id": "x3", "created_at": "2205-01-01", "account_name": 'two\nlines, "quoted"'},
                            {"account_id": "", "account_name": "no id"}])
    append("crm/opportunities", [{"opportunity_id": "o-w", "account_id": "nobody"},
                                 {"opportunity_id": "o-x", "currency": "XYZ"},
                                 {"opportunity_id": "o-y", "amount": "-5"}])
    (landing / "crm/opportunities").mkdir()
    append("crm/opportunities", [{}, {"opportunity_id": "o-z"}], to=landing / "crm/opportunities/later.csv")
    return landing


@pytest.mark.parametrize("example", ["hostile rows", "maven_crm"])
def test_spark_ingests_and_quarantines_as_duckdb(spark, tmp_path: Path, example: str) -> None:
    """The same rows kept (with their file and row number), quarantined (with the same reasons) and counted, in
    the contract's layout and through a mapping (the maven_crm example: rows excluded, deals without an account)."""
    landing = _hostile_landing(tmp_path) if example == "hostile rows" else PROJECT_ROOT / "examples" / example
    mapping = mapping_for(landing)
    duck = duckdb.connect(str(tmp_path / "duckdb.duckdb"))
    ingest_all(duck, landing, "r1", mapping)
    on_spark = duckdb.connect(str(tmp_path / "spark.duckdb"))
    paths = Paths.resolve(tmp_path / "home", landing)
    ingestor = SparkIngestor(on_spark, landing, "r1", mapping, spark, paths)
    for name in ORDER:
        ingestor.ingest(name)
    for entity in landing_contract().entities.values():
        table = f"SELECT * FROM raw.{entity.table}"
        assert sorted(on_spark.execute(table).fetchall(), key=repr) == \
            sorted(duck.execute(table).fetchall(), key=repr), entity.table
    for table in ("raw.quarantine", "raw.ingest_summary"):
        rows = duck.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        assert on_spark.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == rows, table
    rules_broken = {r[0] for r in duck.execute("SELECT DISTINCT rule FROM raw.quarantine").fetchall()}
    assert rules_broken >= ({"duplicate", "superseded", "unknown_account", "type", "range", "missing", "no_fx_rate"}
                            if example == "hostile rows" else {"excluded", "missing"})
