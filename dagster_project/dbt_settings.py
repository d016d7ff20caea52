"""How this project runs dbt: the dbt executable beside this Python, and the vars it takes from icp.yaml."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pipelines.config import load_config


def dbt_executable() -> str:
    """The dbt beside this Python (the project's venv), so that no activated shell is needed."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def dbt_vars() -> dict[str, Any]:
    """dbt vars from icp.yaml, so that dbt and the scoring stage share one configuration."""
    cfg = load_config()
    return {"engagement_half_life_days": cfg.scoring.engagement_half_life_days,
            "engagement_window_days": cfg.scoring.engagement_window_days}
