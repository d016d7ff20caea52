"""Scoring a home: the entry point of the Dagster step, and its result."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipelines.config import Config
from pipelines.paths import Paths
from pipelines.warehouse import warehouse


@dataclass
class IcpResult:
    """What one scoring run produced, for logs and Dagster metadata (the backtest in full is in
    scoring.model_evaluation)."""

    model_version: str
    model_kind: str
    n_accounts: int
    n_customers: int
    n_ideal: int
    n_targets: int
    n_segments: int
    backtest_auc: float | None
    lift_top_vs_bottom: float | None
    recall_top_30pct: float | None
    n_test: int
    warnings: list[str] = field(default_factory=list)


def score_home(paths: Paths, cfg: Config, refresh_id: str, scored_at: datetime,
               previous: Path | None = None) -> IcpResult:
    """Learn the ICP and write the scoring tables in the home's warehouse (pipelines.icp.model.build_icp)."""
    from pipelines.icp.model import build_icp

    with warehouse(paths) as con:
        return build_icp(con, cfg, refresh_id, scored_at, previous)
