"""Shared fixtures: one demo landing folder refreshed once through Dagster, reused by the end-to-end tests."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.demo import generate
from pipelines.paths import Paths

DEMO_ACCOUNTS = 4000


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's own ICP_HOME or config."""
    for var in ("ICP_HOME", "ICP_LANDING_DIR", "ICP_CONFIG", "ICP_WAREHOUSE", "ICP_SCORING_DB", "ICP_ENGINE",
                "ICP_SPARK_MASTER"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    generate(root / "landing", accounts=DEMO_ACCOUNTS, seed=11)
    return root / "landing"


@pytest.fixture(scope="session")
def refreshed_home(tmp_path_factory: pytest.TempPathFactory, demo_landing: Path) -> Paths:
    """An ICP home after one successful refresh of the demo landing folder."""
    from dagster_project.refresh import run_refresh

    paths = Paths.resolve(tmp_path_factory.mktemp("home"), demo_landing)
    outcome = run_refresh(paths)
    assert outcome.success, f"{outcome.failed_step}: {outcome.error}"
    return paths


def read(paths: Paths, sql: str) -> list[tuple]:
    """Run a query on the live publication, read-only, as a BI tool would."""
    with duckdb.connect(str(paths.serving / "icp.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()
