"""The ingest on Spark as a process of its own, started by the ingest asset through Dagster Pipes (extras: the
entities to ingest), so that Spark's Java process ends with the ingest instead of living on beside dbt's for the
rest of the run. Each entity's report, or why it broke the contract, is sent back as a Pipes message."""
from dataclasses import asdict

from dagster_pipes import open_dagster_pipes

from pipelines.ingest import ingest_entities
from pipelines.mapping import mapping_for
from pipelines.paths import Paths
from pipelines.spark import spark_session
from pipelines.spark_ingest import SparkIngestor
from pipelines.warehouse import warehouse


def main() -> None:
    with open_dagster_pipes() as pipes:
        paths = Paths.resolve()
        with warehouse(paths) as con, spark_session(paths) as spark:
            ingestor = SparkIngestor(con, paths.landing, pipes.run_id, mapping_for(paths.landing), spark, paths)
            for name, report, error in ingest_entities(ingestor, pipes.extras["entities"]):
                pipes.report_custom_message({"entity": name, "report": report and asdict(report), "error": error})


if __name__ == "__main__":
    main()
