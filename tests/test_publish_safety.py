"""Publishing while people read: readers never see an error or half a publication, kills and races are harmless."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.lock import holder
from pipelines.paths import Paths
from pipelines.publish import check_publication

ICP = str(Path(sys.executable).with_name("icp"))


def _home_copy(refreshed_home: Paths, tmp_path: Path) -> Paths:
    home = tmp_path / "home"
    shutil.copytree(refreshed_home.home, home, symlinks=True)
    return Paths.resolve(home, refreshed_home.landing)


def _start_refresh(paths: Paths, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICP_", "DAGSTER_"))}
    return subprocess.Popen([ICP, "refresh", "--home", str(paths.home), "--landing", str(paths.landing), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def _publication_state(paths: Paths) -> tuple[str, int]:
    """(latest refresh id, number of refreshes), read as a BI tool would; raises if anything is off."""
    with duckdb.connect(str(paths.serving / "icp.duckdb"), read_only=True) as con:
        problems = check_publication(con, "icp")
        assert not problems, problems
        rid, n = con.execute("SELECT arg_max(refresh_id, published_at), count(*) FROM refreshes").fetchone()
        history = con.execute("SELECT count(DISTINCT refresh_id) FROM target_accounts_history").fetchone()[0]
        assert history == n  # every table of the same publication
        assert con.execute("SELECT count(*) FROM target_accounts").fetchone()[0] > 0
        return rid, n


def _history(db: Path) -> dict[str, int]:
    """Rows of target_accounts_history per refresh, in the DuckDB file `db`."""
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT refresh_id, count(*) FROM target_accounts_history GROUP BY ALL").fetchall())


def _parquet_history(paths: Paths) -> dict[str, int]:
    """Rows of target_accounts_history per refresh, in the live publication's Parquet."""
    with duckdb.connect() as con:
        return dict(con.execute(f"SELECT refresh_id, count(*) FROM read_parquet("
                                f"'{paths.serving / 'parquet' / 'target_accounts_history'}/*/*.parquet') GROUP BY ALL"
                                ).fetchall())


def test_readers_never_fail_during_a_refresh(refreshed_home: Paths, tmp_path: Path) -> None:
    paths = _home_copy(refreshed_home, tmp_path)
    before = _publication_state(paths)
    proc = _start_refresh(paths)
    seen, reads, errors = set(), 0, []
    while proc.poll() is None:
        try:
            seen.add(_publication_state(paths))
            reads += 1
        except Exception as exc:  # noqa: BLE001 - any error a reader meets is a failure
            errors.append(repr(exc))
    output = proc.stdout.read()
    assert proc.returncode == 0, output
    seen.add(_publication_state(paths))
    assert not errors, errors[:3]
    assert reads > 20
    assert before in seen and len(seen) == 2  # the old publication, then the new one, nothing in between


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _kill_when(proc: subprocess.Popen, paths: Paths, step: str, delay: float) -> None:
    """SIGKILL the refresh (and its dbt child) `delay` seconds after `step` starts."""
    from dagster import DagsterEventType, DagsterInstance

    deadline = time.monotonic() + 120
    with paths.exported(), DagsterInstance.get() as instance:
        before = {r.run_id for r in instance.get_runs()}
        while time.monotonic() < deadline and proc.poll() is None:
            runs = [r for r in instance.get_runs() if r.run_id not in before]
            if runs and any(e.dagster_event.step_key == step for e in instance.all_logs(
                    runs[0].run_id, of_type=DagsterEventType.STEP_START)):
                break
            time.sleep(0.05)
    time.sleep(delay)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# A kill in the middle of dbt (its child process killed with it), and one as the publication is being written.
@pytest.mark.parametrize("step,delay", [("icp_dbt_models", 1.0), ("serving__publication", 0.05)])
def test_killed_refresh_leaves_publication_intact_and_next_refresh_succeeds(
        refreshed_home: Paths, tmp_path: Path, step: str, delay: float) -> None:
    paths = _home_copy(refreshed_home, tmp_path)
    before_state = _publication_state(paths)
    before = _digest(paths.serving)
    proc = _start_refresh(paths)
    _kill_when(proc, paths, step, delay)
    state = _publication_state(paths)
    if state == before_state:
        assert _digest(paths.serving) == before  # untouched, byte for byte
    else:
        assert state[1] == before_state[1] + 1  # the kill came after the atomic swap: the new one, whole
    again = _start_refresh(paths)
    out = again.communicate(timeout=300)[0]
    assert again.returncode == 0, out
    assert _publication_state(paths)[1] == state[1] + 1
    assert not list(paths.publications.glob("*.partial"))


def test_one_writer_whoever_starts_the_run(refreshed_home: Paths, tmp_path: Path) -> None:
    """`icp refresh` and a run launched through Dagster's own CLI on the same home, started together: the job
    itself takes the lock, so one waits for the other and both publish (no DuckDB lock error); a third started
    with --wait 0 ends at once with a message naming the refresh that runs."""
    paths = _home_copy(refreshed_home, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICP_", "DAGSTER_"))}
    env.update(ICP_HOME=str(paths.home), ICP_LANDING_DIR=str(paths.landing), DAGSTER_HOME=str(paths.dagster_home))
    cli = _start_refresh(paths)
    dagster = subprocess.Popen([str(Path(ICP).with_name("dagster")), "job", "execute", "-m",
                                "dagster_project.definitions", "-j", "icp_refresh"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while holder(paths).get("pid") not in (cli.pid, dagster.pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # until one of them holds the lock
    running = holder(paths)
    refused = _start_refresh(paths, "--wait", "0")
    out_refused = refused.communicate(timeout=300)[0]
    out_cli = cli.communicate(timeout=600)[0]
    out_dagster = dagster.communicate(timeout=600)[0]
    assert cli.returncode == 0, out_cli
    assert dagster.returncode == 0, out_dagster
    assert refused.returncode == 1
    message = " ".join(out_refused.split())
    assert "another refresh is running on" in message and f"pid {running['pid']}" in message
    assert f"refresh {running['refresh_id']}" in message
    outputs = " ".join(" ".join(out.split()) for out in (out_cli, out_dagster, out_refused))
    assert "waiting up to 3600 s for the refresh running on" in outputs  # one waited for the other
    assert "Could not set lock" not in outputs and "Conflicting lock" not in outputs
    assert _publication_state(paths)[1] == 3



def test_history_is_carried_appended_and_holds_only_published_refreshes(refreshed_home: Paths,
                                                                        tmp_path: Path) -> None:
    """The scoring file starts with the live publication's history only; publish appends the refresh's target list,
    drops the rows of a refresh that was never published, and writes the history whole when the file lacks it. The
    history's Parquet dataset holds the same rows: the live publication's files hard-linked beside the refresh's new
    ones, or all written again when the live publication has none."""
    from datetime import datetime

    from pipelines.publish import publish, start_scoring_file
    from pipelines.warehouse import warehouse

    paths = _home_copy(refreshed_home, tmp_path)
    live = _history(paths.serving / "icp.duckdb")
    start_scoring_file(paths)
    with duckdb.connect(str(paths.scoring_db), read_only=True) as con:
        assert [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()] == \
            ["target_accounts_history"]
    assert _history(paths.scoring_db) == live
    # The scoring tables this test publishes again are the first refresh's (the live publication's copy).
    shutil.copyfile(refreshed_home.scoring_db, paths.scoring_db)
    with warehouse(paths) as con:
        n_targets = con.execute("SELECT count(*) FROM scoring.target_accounts").fetchone()[0]
        con.execute("INSERT INTO scoring.target_accounts_history SELECT 'never-published' AS refresh_id, "
                    "* EXCLUDE (refresh_id) FROM scoring.target_accounts_history")  # a publish that failed later

    def publish_as(refresh_id: str) -> dict[str, int]:
        with warehouse(paths) as con:
            publish(con, paths, refresh_id, datetime(2026, 1, 1), 0, 0)
        return _history(paths.serving / "icp.duckdb")

    first = paths.serving.resolve() / "parquet" / "target_accounts_history"
    second = publish_as("second")
    linked = paths.serving.resolve() / "parquet" / "target_accounts_history"
    assert {p.relative_to(first): p.stat().st_ino for p in first.rglob("*.parquet")}.items() <= \
        {p.relative_to(linked): p.stat().st_ino for p in linked.rglob("*.parquet")}.items()
    assert second == {**live, "second": n_targets} == _parquet_history(paths)
    with warehouse(paths) as con:
        con.execute("DROP TABLE scoring.target_accounts_history")  # a scoring file started anew
    third = publish_as("third")
    assert third == {**second, "third": n_targets} == _parquet_history(paths)
    shutil.rmtree(paths.serving / "parquet" / "target_accounts_history")  # no earlier partitions to link
    assert publish_as("fourth") == {**third, "fourth": n_targets} == _parquet_history(paths)
    assert not list((paths.serving / "parquet").glob(".*"))


@pytest.mark.parametrize("damage", ["missing", "broken"])
def test_a_missing_or_broken_serving_link_does_not_restart_history_from_empty(refreshed_home: Paths, tmp_path: Path,
                                                                           damage: str) -> None:
    """The history and the refreshes table are carried over from the newest complete publication."""
    from dagster_project.refresh import run_refresh

    paths = _home_copy(refreshed_home, tmp_path)
    before = _history(paths.serving / "icp.duckdb")
    with duckdb.connect(str(paths.serving / "icp.duckdb"), read_only=True) as con:
        refreshes = [r[0] for r in con.execute("SELECT refresh_id FROM refreshes ORDER BY published_at").fetchall()]
    paths.serving.unlink()
    (paths.publications / "stale.partial").mkdir()  # a partial publication is never taken as the previous one
    if damage == "broken":
        os.symlink("publications/gone", paths.serving)
    outcome = run_refresh(paths)
    assert outcome.success, outcome.error
    assert any("carried over from the newest complete publication" in w for w in outcome.warnings)
    after = _history(paths.serving / "icp.duckdb")
    assert {k: v for k, v in after.items() if k in before} == before and len(after) == len(before) + 1
    with duckdb.connect(str(paths.serving / "icp.duckdb"), read_only=True) as con:
        assert [r[0] for r in con.execute("SELECT refresh_id FROM refreshes ORDER BY published_at").fetchall()] == \
            refreshes + [outcome.run_id]


def test_a_run_that_skips_the_publication_is_not_a_successful_refresh() -> None:
    """Dagster skips a step whose input was never materialized (as when dbt's events are lost) and still ends the
    run as a success: a refresh that did not publish says so, naming the skipped steps."""
    from dagster import AssetKey, AssetOut, Output, asset, multi_asset, materialize

    from dagster_project.refresh import _published, _unpublished

    @multi_asset(outs={"features": AssetOut(is_required=False)}, can_subset=True)
    def lost_events():
        yield from ()  # the step ends without materializing its asset

    @asset(key=AssetKey(["serving", "publication"]), deps=["features"])
    def publication(features):
        return Output(None)

    result = materialize([lost_events, publication], raise_on_error=False)
    assert result.success and not _published(result)
    assert "publication" in _unpublished(result) and "without publishing" in _unpublished(result)
