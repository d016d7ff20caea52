"""Where things live at run time, resolved from ICP_HOME and ICP_LANDING_DIR."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"


@dataclass(frozen=True)
class Paths:
    """The folders and files of one ICP home."""

    home: Path
    landing: Path

    @classmethod
    def resolve(cls, home: str | Path | None = None, landing: str | Path | None = None) -> "Paths":
        """Explicit arguments win, then ICP_HOME / ICP_LANDING_DIR, then `./.icp` and `$ICP_HOME/landing`."""
        home_path = Path(home or os.environ.get("ICP_HOME") or PROJECT_ROOT / ".icp").resolve()
        landing_path = Path(landing or os.environ.get("ICP_LANDING_DIR") or home_path / "landing").resolve()
        return cls(home=home_path, landing=landing_path)

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def serving(self) -> Path:
        """The live publication: a symlink swapped atomically to a folder under `publications/`."""
        return self.home / "serving"

    @property
    def publications(self) -> Path:
        return self.home / "publications"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def lock_file(self) -> Path:
        return self.home / "refresh.lock"

    def export(self) -> None:
        """Publish these paths to the environment, so that Dagster code and dbt see the same home."""
        os.environ["ICP_HOME"] = str(self.home)
        os.environ["ICP_LANDING_DIR"] = str(self.landing)
        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        os.environ["ICP_WAREHOUSE"] = str(self.warehouse)
        self.home.mkdir(parents=True, exist_ok=True)
        self.dagster_home.mkdir(parents=True, exist_ok=True)
