"""The serving publication: all serving tables, swapped in atomically for BI tools to read."""

from datetime import datetime, timezone

import duckdb

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from dagster_project.ingest_assets import ingest
from dagster_project.owners import OWNER
from dagster_project.refresh_lock import RefreshLock
from dagster_project.scoring_assets import FEATURES_KEY, SCORING_TABLES, markdown_table, metric, scoring_key
from pipelines.paths import Paths
from pipelines.config import load_config
from pipelines.publish import publish
from pipelines.report import write_live_report
from pipelines.warehouse import warehouse



def _ingested(con) -> tuple[int, int]:
    """Rows read from the landing files, and rows rejected (unmatched included), in this refresh."""
    read, rejected = con.execute("SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_rejected + rows_unmatched), 0) "
                                 "FROM raw.ingest_summary").fetchone()
    return int(read), int(rejected)


@asset(
    key=AssetKey(["serving", "publication"]),
    deps=[FEATURES_KEY, *[scoring_key(t) for t in SCORING_TABLES], *ingest.keys],
    group_name="publish",
    kinds={"duckdb", "parquet"},
    owners=[OWNER],
    description="Every table of the serving contract, written to a new <home>/publications/<refresh> folder "
                "(icp.duckdb and parquet/) and made live by atomically swapping the <home>/serving symlink.",
)
def serving_publication(context: AssetExecutionContext, refresh_lock: RefreshLock) -> MaterializeResult:
    paths = Paths.resolve()
    stats = context.instance.get_run_stats(context.run_id)
    started = datetime.fromtimestamp(stats.start_time, timezone.utc).replace(tzinfo=None) if stats.start_time \
        else datetime.now(timezone.utc).replace(tzinfo=None)
    with warehouse(paths) as con:
        rows_ingested, rows_rejected = _ingested(con)
        pub = publish(con, paths, context.run_id, started, rows_ingested, rows_rejected)
    return MaterializeResult(metadata={
        "data_docs": MetadataValue.path(str(paths.reports / "data_docs" / "index.html")),
        "refresh_id": context.run_id,
        "serving_duckdb": MetadataValue.path(str(paths.serving / "icp.duckdb")),
        "serving_parquet": MetadataValue.path(str(paths.serving / "parquet")),
        "publication_folder": MetadataValue.path(str(pub.folder)),
        "rows_ingested": rows_ingested,
        "rows_rejected": rows_rejected,
        "tables": MetadataValue.md("\n".join(f"- {t}: {n:,} rows" for t, n in pub.tables.items())),
    })


@asset(
    key=AssetKey(["serving", "report"]),
    deps=[serving_publication],
    group_name="publish",
    kinds={"html"},
    owners=["team:revops"],
    description="The ICP report: one self-contained HTML file (<home>/reports/icp-report.html, the last "
                "few kept by date) with the ICP in words, the backtest evidence, what drives fit, score "
                "distributions, the top targets, what changed and data quality.",
)
def icp_report(context: AssetExecutionContext, refresh_lock: RefreshLock) -> MaterializeResult:
    paths = Paths.resolve()
    report, n_charts = write_live_report(paths, context.run_id, load_config().declared_icp)
    with duckdb.connect(str(paths.serving / "icp.duckdb"), read_only=True) as con:
        segments = markdown_table(con.execute("""
            SELECT segment_label AS segment, kind, n_accounts AS accounts, round(ideal_rate * 100, 1) AS ideal_pct,
                   round(lift, 2) AS lift, round(win_rate * 100, 1) AS win_pct, round(churn_rate * 100, 1) AS churn_pct
            FROM icp_segments ORDER BY segment_id"""))
        ev = con.execute("SELECT auc, lift_top_vs_bottom, recall_top_30pct FROM model_evaluation").fetchone()
        n_targets = con.execute("SELECT count(*) FROM target_accounts").fetchone()[0]
    return MaterializeResult(metadata={
        "report": MetadataValue.path(str(report)),
        "report_url": MetadataValue.url(report.as_uri()),
        "icp_segments": segments,
        "charts": n_charts,
        "target_accounts": n_targets,
        "backtest_auc": metric(ev[0]),
        "lift_top_vs_bottom": metric(ev[1]),
        "recall_top_30pct": metric(ev[2]),
    })
