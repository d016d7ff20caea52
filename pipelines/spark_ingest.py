"""Landing -> raw on Spark (`engine: spark`), in a process of its own (dagster_project/spark_ingest_process.py):
Spark reads the landing files and judges every row by the landing contract's rules, the same SQL as on DuckDB
(pipelines/contract_rules.py, rendered for Spark by pipelines/spark_sql.py). Every row lands with its verdict as
`<home>/spark/ingest/<table>__landed/`, the kept rows where dbt's models read them on Spark (the hand-over folder
`raw.<table>`, pipelines/spark.py).

The build database keeps what the rest of the pipeline reads, as on DuckDB: `raw.<table>__landed` and
`raw.<table>` as views of Spark's files (the mappings' account matching reads raw.crm_accounts and
raw.crm_contacts), and raw.quarantine and raw.ingest_summary, written from Spark's verdicts by the ingestor's own
code. Mapped files are translated by the mapping's sandbox (DuckDB, pipelines/mapping_sandbox.py) as on DuckDB and
judged on Spark; the mappings' SQL never runs on Spark.
"""
from __future__ import annotations

import shutil
from functools import reduce
from pathlib import Path

import duckdb
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from py4j.protocol import Py4JJavaError

from pipelines import contract_rules as rules
from pipelines.ingest import EntityReport, Ingestor, kept_rows, landed, native_columns
from pipelines.landing_files import LandingError, first_line, text_value
from pipelines.mapped_sql import MappedEntity
from pipelines.mapping import Mapping
from pipelines.paths import Paths
from pipelines.spark import exchange_dir, hand_to_spark, parquet_view, spark_dir
from pipelines.spark_sql import to_spark
from pipelines.sql import ident, q
from schemas.contract import Entity

LAND = "__land_text"  # the Spark view of an entity's landed text rows; `land` adds each row's key windows
READ_ERRORS = (PySparkException, Py4JJavaError)


class SparkIngestor(Ingestor):
    """Ingests landing entities on a Spark session, one entity at a time (see the module's docstring)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, landing: Path, refresh_id: str, mapping: Mapping | None,
                 spark: SparkSession, paths: Paths):
        super().__init__(con, landing, refresh_id, mapping)
        self.spark, self.paths = spark, paths

    def _folder(self, name: str) -> Path:
        return spark_dir(self.paths) / "ingest" / name

    def _kept_folder(self, entity: Entity) -> Path:
        return exchange_dir(self.paths) / "raw" / entity.table

    # -- reading -------------------------------------------------------------------------------------
    def _load_text(self, entity: Entity, files: list[Path], report: EntityReport,
                   mapped: MappedEntity | None) -> str:
        """Every file's rows as the Spark view `LAND` (the columns of the DuckDB ingest's `land`)."""
        if mapped is not None:  # translated in the mapping's sandbox, handed to Spark as Parquet
            numbered = super()._load_text(entity, files, report, mapped)
            folder = self._folder("mapped")
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            self.con.execute(f"COPY ({numbered}) TO {q(str(folder / 'land.parquet'))} (FORMAT parquet)")
            frame = self.spark.read.parquet(str(folder))
        else:
            frames = []
            for order, path in enumerate(files):
                rel = path.relative_to(self.landing).as_posix()
                try:
                    frames.append(self._read(entity, path, rel, order))
                except READ_ERRORS as exc:
                    raise LandingError(f"{entity.name}: file {rel} cannot be read: {first_line(exc)}") from exc
                report.files.append(rel)
            frame = reduce(DataFrame.unionByName, frames)
        frame.createOrReplaceTempView(LAND)
        return LAND

    def _read(self, entity: Entity, path: Path, rel: str, order: int) -> DataFrame:
        """A file in the contract's own shape as text rows with their file, its order and each row's number.
        CSV is read with the contract's dialect (a quoted value may span lines); JSON Lines keep values as text."""
        name = path.name.lower()
        if name.endswith(".parquet"):
            frame = self.spark.read.parquet(str(path))
            row = F.col("_metadata.row_index") + 1
        else:
            if name.endswith((".jsonl", ".ndjson")):
                frame = self.spark.read.json(str(path), primitivesAsString=True, mode="FAILFAST")
            else:
                frame = self.spark.read.csv(str(path), header=True, sep=",", quote='"', escape='"',
                                            multiLine=True, mode="FAILFAST")
            # increasing in file order; from 0 by one when the file is read as one part (CSV's multiLine does)
            frame = frame.withColumn("__mono", F.monotonically_increasing_id())
            one_part = frame.rdd.getNumPartitions() == 1
            row = F.col("__mono") + 1 if one_part else F.row_number().over(Window.orderBy("__mono"))
        values = [F.expr(to_spark(text_value(ident(h)))).alias(c) if h
                  else F.lit(None).cast("string").alias(c)
                  for c, h in native_columns(entity, rel, frame.columns).items()]
        unset = [F.lit(None).cast("string").alias(c) for c in ("__match", "__match_reason", "__excluded")]
        return frame.select(F.lit(rel).alias("__file"), F.lit(order).alias("__file_order"),
                            row.cast("long").alias("__row"), *values, *unset)

    # -- row rules -----------------------------------------------------------------------------------
    def _judge(self, entity: Entity, files: list[str], numbered: str) -> str:
        """Judge every row on Spark, the rules across rows included, and write `<table>__landed` and the kept
        rows; make both readable in the build database. Rows carry their number: returns `_row_number`."""
        pk = ident(entity.primary_key)
        ref = next((c for c in entity.columns if c.references), None)
        known, join = "CAST(NULL AS VARCHAR)", ""
        if ref is not None:
            accounts = self._kept_folder(self.contract.entities[ref.references])
            self.spark.read.parquet(str(accounts)).createOrReplaceTempView("__known_accounts")
            known = "acc.__known"
            join = (f"LEFT JOIN (SELECT account_id AS __known FROM __known_accounts) acc "
                    f"ON acc.__known = l.{ident(ref.name)}")
        self.spark.sql(to_spark(f"""
            SELECT *, row_number() OVER (PARTITION BY __file_order, {pk} ORDER BY __row) AS __dup_rank,
                   min(__row) OVER (PARTITION BY __file_order, {pk}) AS __first_row,
                   max(__file_order) OVER (PARTITION BY {pk}) AS __winner_order
            FROM (SELECT l.*, {known} AS __known FROM {LAND} l {join})""")).createOrReplaceTempView("land")
        table = self._folder(f"{entity.table}__landed")
        try:
            self.spark.sql(to_spark(rules.judged(entity, self._fx_rate(entity), files))) \
                .write.mode("overwrite").parquet(str(table))
        except READ_ERRORS as exc:  # a file in the contract's layout is read here
            raise LandingError(f"{entity.name}: file {' or '.join(files)} cannot be read: "
                               f"{first_line(exc)}") from exc
        self.spark.read.parquet(str(table)).createOrReplaceTempView("__landed")
        self.spark.sql(to_spark(kept_rows(entity, files, "_row_number", "__landed"))) \
            .write.mode("overwrite").parquet(str(self._kept_folder(entity)))
        parquet_view(self.con, landed(entity), table)
        parquet_view(self.con, f"raw.{entity.table}", self._kept_folder(entity))
        return "_row_number"

    def _create_empty(self, entity: Entity) -> None:
        """An absent optional entity: empty tables, the kept rows handed to Spark."""
        super()._create_empty(entity)
        hand_to_spark(self.con, self.paths, {f"raw.{entity.table}": f"raw.{entity.table}"})
