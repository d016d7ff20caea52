"""The instance's event log (dagster_project/event_log.py) keeps Dagster's own history: what it writes, Dagster's
default SQLite event log reads back, and it keeps only a few run files open."""
from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, asset, materialize
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from dagster_project.event_log import OPEN_RUN_FILES, PooledSqliteEventLogStorage
from dagster_project.refresh import prepare_instance
from pipelines.paths import Paths


@asset
def tiny() -> int:
    return 1


def test_runs_are_stored_as_dagsters_own_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = Paths.resolve(tmp_path / "home")
    prepare_instance(paths)
    monkeypatch.setenv("DAGSTER_HOME", str(paths.dagster_home))
    runs = OPEN_RUN_FILES + 2
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        run_ids = [materialize([tiny], instance=instance).run_id for _ in range(runs)]
        counts = [len(instance.all_logs(r)) for r in run_ids]
        open_runs = [s for s in storage._engines if s != "index"]
        assert len(open_runs) <= OPEN_RUN_FILES and open_runs[-1] == run_ids[-1]

    default = SqliteEventLogStorage(str(paths.dagster_home / "history" / "runs"))
    try:
        assert [len(default.get_logs_for_run(r)) for r in run_ids] == counts
        assert all(c > 5 for c in counts)
        latest = default.get_latest_materialization_events([AssetKey("tiny")])[AssetKey("tiny")]
        assert latest is not None and latest.run_id == run_ids[-1]
    finally:
        default.dispose()
