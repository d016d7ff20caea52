"""icp.yaml: documented defaults load, and mistakes are reported with the key that is wrong."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import Config, ConfigError, load_config
from pipelines.paths import PROJECT_ROOT, Paths


def test_shipped_icp_yaml_equals_the_defaults() -> None:
    assert load_config(PROJECT_ROOT / "icp.yaml") == Config()


@pytest.mark.parametrize("text,key", [
    ("labels:\n  ideal_shre: 0.3\n", "labels.ideal_shre"),
    ("labels:\n  ideal_share: 1.5\n", "labels.ideal_share"),
    ("scoring:\n  tier_shares: [0.5, 0.5, 0.5]\n", "scoring"),
    ("model: [1, 2]\n", "model"),
    ("engine: presto\n", "engine"),
    ("spark:\n  conf: {executor.memory: 8g}\n", "spark"),
    ("spark:\n  conf: {spark.app.name: \"x\\nspark.jars /tmp/evil.jar\"}\n", "spark"),
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


def test_the_spark_settings_are_spark_defaults_lines_and_the_environment_wins(tmp_path: Path, monkeypatch) -> None:
    from pipelines.spark import engine, spark_conf, spark_environment

    path = tmp_path / "icp.yaml"
    path.write_text("engine: spark\nspark:\n  master: spark://master:7077\n  conf: {spark.executor.memory: 8g}\n")
    monkeypatch.setenv("ICP_CONFIG", str(path))
    paths = Paths.resolve(tmp_path / "my home")
    assert engine() == "spark"
    conf = spark_conf(paths)
    assert conf["spark.master"] == "spark://master:7077" and conf["spark.executor.memory"] == "8g"
    monkeypatch.setenv("ICP_SPARK_MASTER", "local[2]")
    monkeypatch.setenv("ICP_ENGINE", "duckdb")
    assert spark_conf(paths)["spark.master"] == "local[2]" and engine() == "duckdb"
    folder = Path(spark_environment(paths)["SPARK_CONF_DIR"])
    lines = (folder / "spark-defaults.conf").read_text().splitlines()
    assert "spark.master local[2]" in lines and len(lines) == len(spark_conf(paths))
    monkeypatch.setenv("ICP_ENGINE", "presto")
    with pytest.raises(ConfigError, match="presto"):
        engine()
