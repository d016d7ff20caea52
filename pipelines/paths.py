"""Where things live at run time, resolved from ICP_HOME and ICP_LANDING_DIR."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pipelines.machine import DBT_SHARE, duckdb_memory

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
    def scoring_db(self) -> Path:
        """account_features and the scoring tables, in their published shape: each new publication starts as a
        copy of this file (attached to the warehouse as the catalog `scoring`)."""
        return self.home / "scoring.duckdb"

    @property
    def dbt_env(self) -> dict[str, str]:
        """What dbt's profile (dbt/profiles.yml) reads: the database files and DuckDB's memory limit in dbt."""
        return {"ICP_WAREHOUSE": str(self.warehouse), "ICP_SCORING_DB": str(self.scoring_db),
                "ICP_DBT_MEMORY": duckdb_memory("ICP_DBT_MEMORY", DBT_SHARE)}

    @property
    def dbt_target(self) -> Path:
        """dbt's target folder (compiled SQL, run results, parsed project) and log of this home."""
        return self.home / "dbt-target"

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

    @contextmanager
    def exported(self, config: Path | None = None, mapping: Path | None = None,
                 engine: str | None = None) -> Iterator[None]:
        """These paths (and a config, a mapping file and the engine) in the environment while the block runs, so
        that Dagster code and dbt see the same home; the environment is restored afterwards."""
        values = {"ICP_HOME": self.home, "ICP_LANDING_DIR": self.landing, "DAGSTER_HOME": self.dagster_home,
                  **self.dbt_env}
        if config is not None:
            values["ICP_CONFIG"] = Path(config).resolve()
        if mapping is not None:
            values["ICP_MAPPING"] = Path(mapping).resolve()
        if engine is not None:
            values["ICP_ENGINE"] = engine
        saved = {k: os.environ.get(k) for k in values}
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        os.environ.update({k: str(v) for k, v in values.items()})
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
