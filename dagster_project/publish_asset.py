"""The serving publication: all serving tables, swapped in atomically for BI tools to read."""

from datetime import datetime, timezone

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from dagster_project.ingest_assets import INGEST_ASSETS
from dagster_project.scoring_assets import FEATURES_KEY, SCORING_TABLES, scoring_key
from pipelines.paths import Paths
from pipelines.publish import publish
from pipelines.report import write_report
from pipelines.warehouse import warehouse

OWNER = "team:data-engineering"


def _ingested(con) -> tuple[int, int]:
    kept = sum(con.execute(f"SELECT count(*) FROM raw.{t}").fetchone()[0] for (t,) in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw' AND table_name <> 'quarantine'"
    ).fetchall())
    rejected = con.execute("SELECT count(*) FROM raw.quarantine WHERE severity = 'rejected'").fetchone()[0]
    return kept + rejected, rejected


@asset(
    key=AssetKey(["serving", "publication"]),
    deps=[FEATURES_KEY, *[scoring_key(t) for t in SCORING_TABLES], *[a.key for a in INGEST_ASSETS]],
    group_name="publish",
    kinds={"duckdb", "parquet"},
    owners=[OWNER],
    description="Every table of the serving contract, written to a new <home>/publications/<refresh> folder "
                "(icp.duckdb and parquet/) and made live by atomically swapping the <home>/serving symlink.",
)
def serving_publication(context: AssetExecutionContext) -> MaterializeResult:
    paths = Paths.resolve()
    stats = context.instance.get_run_stats(context.run_id)
    started = datetime.fromtimestamp(stats.start_time, timezone.utc).replace(tzinfo=None) if stats.start_time \
        else datetime.now(timezone.utc).replace(tzinfo=None)
    with warehouse(paths) as con:
        rows_ingested, rows_rejected = _ingested(con)
        pub = publish(con, paths, context.run_id, started, rows_ingested, rows_rejected)
    report = write_report(pub.duckdb_path, paths.reports, context.run_id)
    return MaterializeResult(metadata={
        "report": MetadataValue.path(str(report)),
        "data_docs": MetadataValue.path(str(paths.reports / "data_docs" / "index.html")),
        "refresh_id": context.run_id,
        "serving_duckdb": MetadataValue.path(str(paths.serving / "icp.duckdb")),
        "serving_parquet": MetadataValue.path(str(paths.serving / "parquet")),
        "publication_folder": MetadataValue.path(str(pub.folder)),
        "rows_ingested": rows_ingested,
        "rows_rejected": rows_rejected,
        "tables": MetadataValue.md("\n".join(f"- {t}: {n:,} rows" for t, n in pub.tables.items())),
    })
