"""icp.yaml: documented defaults load, and mistakes are reported with the key that is wrong."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import Config, ConfigError, load_config
from pipelines.paths import PROJECT_ROOT


def test_shipped_icp_yaml_equals_the_defaults() -> None:
    assert load_config(PROJECT_ROOT / "icp.yaml") == Config()


@pytest.mark.parametrize("text,key", [
    ("labels:\n  ideal_shre: 0.3\n", "labels.ideal_shre"),
    ("labels:\n  ideal_share: 1.5\n", "labels.ideal_share"),
    ("scoring:\n  tier_shares: [0.5, 0.5, 0.5]\n", "scoring"),
    ("model: [1, 2]\n", "model"),
])
def test_invalid_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "icp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path)


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_duckdb_memory_is_a_share_of_the_machine_unless_the_environment_names_it(monkeypatch) -> None:
    from pipelines.machine import duckdb_memory, memory_mb

    monkeypatch.delenv("ICP_DBT_MEMORY", raising=False)
    assert duckdb_memory("ICP_DBT_MEMORY", 1 / 4) == f"{max(memory_mb() // 4, 1024)}MB"
    monkeypatch.setenv("ICP_DBT_MEMORY", "2GB")
    assert duckdb_memory("ICP_DBT_MEMORY", 1 / 4) == "2GB"
