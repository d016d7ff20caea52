"""Apache Spark as the refresh's engine (`engine: spark`): dbt's models run on Spark (dbt-spark), and the steps
in between (the ingest, the fit, the checks, the publication) hand tables to it and take its tables back as
Parquet files in the home, so that the same pipeline runs on either engine.

The hand-over: the pipeline writes a table as `<home>/spark/exchange/<schema>/<table>/data.parquet`, which dbt
registers in Spark as an external table of that name before its models run (macro `register_exchange`); Spark's
own tables are Parquet folders under its warehouse folder, which DuckDB reads in place (`read_spark_tables`).
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb

from pipelines.config import ENGINES, ConfigError, load_config
from pipelines.machine import memory_mb
from pipelines.paths import Paths
from pipelines.sql import ident, q
from pipelines.warehouse import drop_relation

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Spark logs errors only: dbt reports each model, and Spark's warnings (e.g. that its Parquet tables are not Hive's
# format) would bury them; the metastore's "already exists" errors of `create database if not exists` are not.
LOG_CONFIG = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
logger.metastore.name = org.apache.hadoop.hive.metastore.RetryingHMSHandler
logger.metastore.level = fatal
"""
DRIVER_SHARE = 1 / 4  # Spark's driver (in local mode, the whole of Spark) takes this share of the machine's memory


def engine() -> str:
    """The refresh's engine: ICP_ENGINE (what `--engine` sets), else icp.yaml's `engine`."""
    chosen = os.environ.get("ICP_ENGINE") or load_config().engine
    if chosen not in ENGINES:
        raise ConfigError(f"ICP_ENGINE={chosen!r} is not an engine; choose one of {', '.join(ENGINES)}")
    return chosen


def spark_dir(paths: Paths) -> Path:
    return paths.home / "spark"


def warehouse_dir(paths: Paths) -> Path:
    """Spark's warehouse: a folder `<schema>.db/<table>/` of Parquet files per table dbt builds."""
    return spark_dir(paths) / "warehouse"


def exchange_dir(paths: Paths) -> Path:
    return spark_dir(paths) / "exchange"


def spark_conf(paths: Paths) -> dict[str, str]:
    """Spark's configuration for this home: a local session by default; icp.yaml's `spark.master` and
    `spark.conf`, then ICP_SPARK_MASTER, win. Timestamps are time-zone free and UTC, as in DuckDB."""
    cfg = load_config().spark
    metastore = spark_dir(paths) / "metastore_db"
    conf = {
        "spark.master": cfg.master,
        "spark.app.name": "icp-engine",
        "spark.sql.warehouse.dir": str(warehouse_dir(paths)),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
        # the metastore's log in the home, not in dbt's folder (quoted: Spark splits Java options at spaces)
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={_java_quoted(str(spark_dir(paths)))}",
        "spark.driver.memory": f"{max(int(memory_mb() * DRIVER_SHARE), 1024)}m",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.shuffle.partitions": str(max(2 * (os.cpu_count() or 1), 4)),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **cfg.conf,
    }
    if os.environ.get("ICP_SPARK_MASTER"):
        conf["spark.master"] = os.environ["ICP_SPARK_MASTER"]
    return conf


class SparkSetupError(RuntimeError):
    """Spark cannot start on this machine (no Java)."""


def describe(con: duckdb.DuckDBPyConnection, relation: str, description: str | None,
             columns: dict[str, str | None]) -> None:
    """Give the build database's view `schema.table` of a Spark table its model's descriptions, as comments."""
    schema, table = (ident(part) for part in relation.split("."))
    if description:
        con.execute(f"COMMENT ON VIEW {schema}.{table} IS {q(description)}")
    existing = {r[0] for r in con.execute(f"DESCRIBE {schema}.{table}").fetchall()}
    for column, text in columns.items():
        if text and column in existing:
            con.execute(f"COMMENT ON COLUMN {schema}.{table}.{ident(column)} IS {q(text)}")


def _java_quoted(value: str) -> str:
    """A Java option's value in double quotes, as Spark's splitting of its Java options reads them."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spark_environment(paths: Paths) -> dict[str, str]:
    """The environment of a process that starts Spark for this home: SPARK_CONF_DIR names a folder with the home's
    spark-defaults.conf (written here), which Spark reads on start."""
    java = Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME") else shutil.which("java")
    if java is None or not Path(java).exists():
        raise SparkSetupError(f"the Spark engine needs Java 17 or newer, and {java or 'no java on PATH'} was found: "
                              "install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME")
    conf_dir = spark_dir(paths) / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"{key} {value}" for key, value in spark_conf(paths).items()]
    (conf_dir / "spark-defaults.conf").write_text("\n".join(lines) + "\n")
    (conf_dir / "log4j2.properties").write_text(LOG_CONFIG)
    return {"SPARK_CONF_DIR": str(conf_dir)}


@contextmanager
def spark_session(paths: Paths) -> Iterator["SparkSession"]:
    """A Spark session for the pipeline's own steps on Spark (the ingest), with the home's configuration; stopped
    afterwards (dbt's models run in dbt's own session)."""
    from pyspark.sql import SparkSession  # only the Spark engine starts Java

    spark_environment(paths)  # Java is there
    spark = SparkSession.builder.config(map=spark_conf(paths)).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def hand_to_spark(con: duckdb.DuckDBPyConnection, paths: Paths, tables: dict[str, str]) -> None:
    """Write each DuckDB relation (the values) as a Parquet file where dbt registers it in Spark under its key,
    `schema.table`."""
    for relation, source in tables.items():
        schema, table = relation.split(".")
        folder = exchange_dir(paths) / schema / table
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        con.execute(f"COPY (SELECT * FROM {source}) TO {q(str(folder / 'data.parquet'))} (FORMAT parquet)")


def exchanged(paths: Paths) -> dict[str, str]:
    """The tables handed to Spark so far, `schema.table` -> folder (dbt's var `exchange`)."""
    root = exchange_dir(paths)
    if not root.exists():
        return {}
    return {f"{folder.parent.name}.{folder.name}": str(folder)
            for folder in sorted(root.glob("*/*")) if any(folder.glob("*.parquet"))}


def read_spark_tables(con: duckdb.DuckDBPyConnection, paths: Paths, relations: list[str],
                      into: str | None = None) -> None:
    """Make Spark's tables `schema.table` readable in DuckDB under the same names: views of their Parquet files,
    or, with `into` (a DuckDB catalog), tables copied into it."""
    for relation in relations:
        schema, table = relation.split(".")
        folder = warehouse_dir(paths) / f"{schema}.db" / table
        if not any(folder.glob("*.parquet")):
            raise FileNotFoundError(f"Spark's table {relation} has no Parquet files in {folder}")
        if into is None:
            parquet_view(con, relation, folder)
        else:
            con.execute(f"CREATE OR REPLACE TABLE {ident(into)}.main.{ident(table)} AS {_parquet_rows(folder)}")


def parquet_view(con: duckdb.DuckDBPyConnection, relation: str, folder: Path) -> None:
    """The build database's view `schema.table` of a folder of Parquet files Spark wrote, replacing a table of
    that name (what DuckDB writes when the home last ran on it)."""
    schema, table = relation.split(".")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
    drop_relation(con, schema, table)
    con.execute(f"CREATE VIEW {ident(schema)}.{ident(table)} AS {_parquet_rows(folder)}")


def _parquet_rows(folder: Path) -> str:
    """SQL: every row of the Parquet files Spark wrote in `folder`."""
    return f"SELECT * FROM read_parquet({q(str(folder / '*.parquet'))})"
