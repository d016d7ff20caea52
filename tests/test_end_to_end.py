"""End to end through Dagster: demo landing data -> icp refresh -> a publication that honours the contract."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.paths import Paths
from pipelines.publish import check_publication
from schemas.contract import serving_contract
from tests.conftest import read


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_publication_honours_the_serving_contract(refreshed_home: Paths) -> None:
    with duckdb.connect(str(refreshed_home.serving / "icp.duckdb"), read_only=True) as con:
        assert check_publication(con, "icp") == []
        for table in serving_contract().values():
            assert table.parquet_path(refreshed_home.serving / "parquet").exists(), table.name
            parquet = table.parquet_glob(refreshed_home.serving / "parquet")
            n_db = con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]
            n_pq = con.execute(f"SELECT count(*) FROM read_parquet('{parquet}', hive_partitioning = true)"
                               ).fetchone()[0]
            assert n_db == n_pq, table.name


def test_published_account_features_carry_the_dbt_descriptions(refreshed_home: Paths) -> None:
    """dbt builds account_features in the build database's marts; the publication's copy keeps the model's and its
    columns' descriptions as DuckDB comments, for BI tools."""
    table = read(refreshed_home, "SELECT comment FROM duckdb_tables() WHERE table_name = 'account_features'")[0][0]
    columns = read(refreshed_home, "SELECT count(*), count(comment) FROM duckdb_columns() "
                                   "WHERE table_name = 'account_features'")[0]
    assert table and columns[0] > 50 and columns[1] == columns[0]


def test_history_parquet_is_partitioned_by_refresh_date(refreshed_home: Paths) -> None:
    """target_accounts_history's Parquet is a Hive-partitioned dataset: one folder per refresh day (version 2)."""
    dataset = refreshed_home.serving / "parquet" / "target_accounts_history"
    (day,) = read(refreshed_home, "SELECT DISTINCT CAST(scored_at AS DATE) FROM target_accounts_history")[0:1]
    assert (dataset / f"refresh_date={day[0].isoformat()}").is_dir()
    with duckdb.connect() as con:
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{dataset}/*/*.parquet', "
                                             "hive_partitioning = true)").fetchall()]
    assert columns[-1] == "refresh_date" and set(serving_contract()["target_accounts_history"].columns) < set(columns)


def test_target_list_is_ranked_dense_and_explained(refreshed_home: Paths) -> None:
    n, lo, hi, distinct = read(refreshed_home, "SELECT count(*), min(rank), max(rank), count(DISTINCT rank) FROM target_accounts")[0]
    assert n > 100 and (lo, hi, distinct) == (1, n, n)
    bad = read(refreshed_home, """
        SELECT count(*) FROM target_accounts t JOIN account_scores s USING (account_id)
        WHERE s.lifecycle = 'customer' OR s.is_bad_fit OR t.reasons IS NULL
           OR t.fit_score NOT BETWEEN 0 AND 100 OR t.priority_score NOT BETWEEN 0 AND 100""")[0][0]
    assert bad == 0
    # By priority, then fit (both descending), then account_id; and every prospect that is no bad fit is listed.
    out_of_order = read(refreshed_home, """SELECT count(*) FROM (SELECT rank, row_number() OVER (
        ORDER BY priority_score DESC, fit_score DESC, account_id) AS expected FROM target_accounts) WHERE rank <> expected""")
    assert out_of_order[0][0] == 0
    missing = read(refreshed_home, """SELECT count(*) FROM account_scores s LEFT JOIN target_accounts t USING (account_id)
        WHERE s.lifecycle = 'prospect' AND NOT s.is_bad_fit AND t.account_id IS NULL""")
    assert missing[0][0] == 0
    assert read(refreshed_home, "SELECT count(*) FROM account_scores")[0][0] == \
        read(refreshed_home, "SELECT count(*) FROM account_features")[0][0]


def test_every_account_in_one_known_segment(refreshed_home: Paths) -> None:
    orphans = read(refreshed_home, """SELECT count(*) FROM account_scores s
                                      LEFT JOIN icp_segments g USING (segment_id) WHERE g.segment_id IS NULL""")[0][0]
    assert orphans == 0
    total = read(refreshed_home, "SELECT sum(n_accounts) FROM icp_segments")[0][0]
    assert total == read(refreshed_home, "SELECT count(*) FROM account_scores")[0][0]


def test_model_evaluation_reports_a_backtest(refreshed_home: Paths) -> None:
    auc, n_test, cutoff = read(refreshed_home, "SELECT auc, n_test, cutoff_date FROM model_evaluation")[0]
    assert n_test > 50 and auc is not None and 0.5 < auc <= 1.0 and cutoff is not None


def test_same_inputs_same_scores(refreshed_home: Paths, demo_landing: Path, tmp_path: Path) -> None:
    """A second home refreshed from the same landing data ranks and scores identically."""
    from dagster_project.refresh import run_refresh

    other = Paths.resolve(tmp_path / "home2", demo_landing)
    assert run_refresh(other).success
    query = "SELECT rank, account_id, fit_score, priority_score, reasons, model_version FROM target_accounts ORDER BY rank"
    assert read(other, query) == read(refreshed_home, query)


def _break_missing_column(landing: Path) -> None:
    (landing / "crm" / "accounts.csv").write_text("account_id,name\nA1,x\n")


def _break_missing_entity(landing: Path) -> None:
    (landing / "crm" / "opportunities.csv").unlink()


def _break_unreadable_file(landing: Path) -> None:
    (landing / "support" / "tickets.csv").unlink()
    (landing / "support" / "tickets.parquet").write_bytes(b"this is not parquet")


def _break_too_many_rejections(landing: Path) -> None:
    path = landing / "billing" / "invoices.csv"
    lines = path.read_text().splitlines()
    broken = [line.replace(",paid,", ",lost-in-mail,") for line in lines[1:]]
    path.write_text("\n".join([lines[0], *broken]) + "\n")


def _break_two_entities(landing: Path) -> None:
    _break_unreadable_file(landing)
    _break_too_many_rejections(landing)


FILE_ERRORS = {  # how the landing is broken, and what the refresh's error says (all of it)
    "missing_column": (_break_missing_column,
                       ["crm/accounts: file crm/accounts.csv lacks required column(s) account_name, created_at"]),
    "missing_entity": (_break_missing_entity, ["crm/opportunities: required entity has no file"]),
    "unreadable_file": (_break_unreadable_file, ["support/tickets: file support/tickets.parquet cannot be read"]),
    "too_many_rejections": (_break_too_many_rejections, ["billing/invoices: ", "more than the allowed 5%",
                                                         "status allowed"]),
    # One run names every broken entity (each is ingested unless an entity it depends on failed).
    "two_entities": (_break_two_entities, ["billing/invoices: ", "support/tickets: file support/tickets.parquet"]),
}


@pytest.mark.parametrize("breakage", list(FILE_ERRORS))
def test_file_error_fails_the_refresh_and_leaves_the_publication_untouched(
        refreshed_home: Paths, tmp_path: Path, breakage: str) -> None:
    from dagster_project.refresh import run_refresh

    breaker, messages = FILE_ERRORS[breakage]
    home = tmp_path / "home"
    shutil.copytree(refreshed_home.home, home, symlinks=True)
    before = _tree_digest(home / "serving")
    broken = tmp_path / "broken"
    shutil.copytree(refreshed_home.landing, broken)
    breaker(broken)
    outcome = run_refresh(Paths.resolve(home, broken))
    assert not outcome.success
    assert outcome.failed_step == "ingest"
    assert all(message in outcome.error for message in messages), outcome.error
    assert _tree_digest(home / "serving") == before


def test_history_grows_and_movement_is_tracked(refreshed_home: Paths, tmp_path: Path) -> None:
    from dagster_project.refresh import run_refresh

    home = tmp_path / "home"
    shutil.copytree(refreshed_home.home, home, symlinks=True)
    paths = Paths.resolve(home, refreshed_home.landing)
    with duckdb.connect(str(paths.warehouse)) as con:  # a home from before scoring had its own file
        con.execute("CREATE SCHEMA scoring; CREATE TABLE scoring.account_scores AS SELECT 1 AS stale")
    progress = []
    outcome = run_refresh(paths, on_event=lambda step, status, seconds: progress.append((step, status)))
    assert outcome.success
    assert sorted(progress) == sorted((step, "STEP_SUCCESS") for step in outcome.steps)  # each step shown once
    assert {"icp_dbt_models", "icp_fit", "icp_dbt_scoring", "icp_evaluation", "serving__publication"} <= set(outcome.steps)
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'scoring'").fetchone()[0] == 0
    refreshes = read(paths, "SELECT count(*) FROM refreshes")[0][0]
    history = read(paths, "SELECT count(DISTINCT refresh_id) FROM target_accounts_history")[0][0]
    assert refreshes == 2 and history == 2
    moved = read(paths, "SELECT count(*) FROM target_accounts WHERE previous_rank IS NOT NULL")[0][0]
    assert moved > 0


def test_definitions_have_job_schedule_and_checks() -> None:
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("icp_refresh")
    assert job is not None
    assert defs.resolve_schedule_def("nightly_refresh").cron_schedule == "0 2 * * *"
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw/crm_accounts", "marts/account_features", "scoring/target_accounts", "serving/publication"} <= keys
    assert any(k.name == "account_features_schema" for k in graph.asset_check_keys)


def test_dagster_validates_the_workspace() -> None:
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=Path(__file__).parents[1], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"], ["refresh", "--help"], ["status", "--help"]])
def test_cli_entry_point(args: list[str]) -> None:
    icp = Path(sys.executable).with_name("icp")
    done = subprocess.run([str(icp), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_homes_and_landing_folders_with_quotes_and_spaces_work(demo_landing: Path, tmp_path: Path) -> None:
    from dagster_project.refresh import run_refresh

    landing = tmp_path / "drop 'n' go" / "landing"
    shutil.copytree(demo_landing, landing)
    paths = Paths.resolve(tmp_path / "it's a home", landing)
    outcome = run_refresh(paths)
    assert outcome.success, f"{outcome.failed_step}: {outcome.error}"
    assert read(paths, "SELECT count(*) FROM target_accounts")[0][0] > 0
    assert (paths.reports / "icp-report.html").is_file()


def test_every_account_has_a_score_status_and_disqualified_ones_stay_visible(refreshed_home: Paths) -> None:
    """account_scores: disqualified exactly when a bad fit (anti-ICP segments included), with the rule in words;
    target_accounts holds no disqualified account; disqualified prospects stay in account_scores."""
    rows = dict(read(refreshed_home, "SELECT score_status, count(*) FROM account_scores GROUP BY ALL"))
    assert set(rows) <= {"scored", "insufficient_data", "disqualified"} and rows.get("disqualified", 0) > 0
    wrong = read(refreshed_home, """SELECT count(*) FROM account_scores
        WHERE (score_status = 'disqualified') <> is_bad_fit
           OR (score_status = 'scored') <> (status_reason IS NULL)
           OR (bad_fit_reason = 'anti-ICP segment' AND status_reason NOT LIKE 'anti-ICP segment S__ (%)')""")[0][0]
    assert wrong == 0
    assert read(refreshed_home, "SELECT count(*) FROM target_accounts WHERE score_status = 'disqualified'")[0][0] == 0
    assert read(refreshed_home, "SELECT count(*) FROM account_scores WHERE lifecycle = 'prospect' "
                                "AND score_status = 'disqualified'")[0][0] > 0
