"""How this project runs dbt: the project, the dbt executable beside this Python, and the vars it takes from
icp.yaml."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource, DbtProject

from pipelines.config import PRE_SALE_ATTRIBUTES, load_config
from pipelines.paths import DBT_PROJECT_DIR

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The dbt beside this Python (the project's venv), so that no activated shell is needed."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def dbt_vars() -> dict[str, Any]:
    """dbt vars from icp.yaml, so that dbt's features and scoring models and the fit share one configuration."""
    cfg = load_config()
    return {"engagement_half_life_days": cfg.scoring.engagement_half_life_days,
            "engagement_window_days": cfg.scoring.engagement_window_days,
            "backtest_months": cfg.model.backtest_months,
            "engagement_weight": cfg.scoring.engagement_weight,
            "winback": cfg.scoring.winback,
            "min_known_attributes": cfg.scoring.min_known_attributes,
            "pre_sale_attributes": list(PRE_SALE_ATTRIBUTES),
            "exclude_domains": cfg.exclude.domains,
            "exclude_account_names": cfg.exclude.account_names}


def dbt_resource() -> DbtCliResource:
    """The resource that runs dbt for Dagster."""
    return DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable())


def prepare_manifest() -> None:
    """Parse the dbt project into its manifest (target/manifest.json), which Dagster reads to know the models and
    tests. `make setup` runs it; run it again (`icp prepare`) after changing the dbt project."""
    dbt_resource().cli(["parse", "--quiet", "--vars", json.dumps(dbt_vars())],
                       target_path=DBT_PROJECT.target_path).wait()
