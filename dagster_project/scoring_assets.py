"""The ICP model: labels, fit scorecard, segments, targets and backtest, as one multi-asset over the mart."""

from datetime import datetime, timezone

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from dagster_project.owners import OWNER
from dagster_project.refresh_lock import RefreshLock
from pipelines.config import load_config
from pipelines.icp.model import build_icp
from pipelines.paths import Paths
from pipelines.publish import live_publication, previous_publication, start_scoring_file
from pipelines.warehouse import warehouse

FEATURES_KEY = AssetKey(["marts", "account_features"])
SCORING_TABLES = {
    "account_scores": "Every account with its fit score, tier, segment, value index, labels and reasons.",
    "icp_segments": "The ICP in words: interpretable segments and how well each performs.",
    "target_accounts": "Prospects (and win-back accounts) ranked by priority, bad fits left out.",
    "model_evaluation": "Out-of-time backtest of the model behind this refresh.",
    "model_evaluation_tiers": "Backtest conversion, valuable customers and new revenue per fit tier.",
    "model_evaluation_calibration": "Backtest calibration: fit_probability against the observed valuable rate.",
    "model_evaluation_gain": "Backtest cumulative gain: share of conversions found by calling the top share of accounts.",
    "fit_scorecard": "The fit scorecard: points per attribute level.",
    "fit_attributes": "How each scorecard attribute reads an account's level (for icp explain).",
    "fit_attribute_checks": "The leakage guard: each pre-sale attribute's missing share among customers, lost "
                            "accounts and prospects, and whether the fit used it.",
}


def scoring_key(table: str) -> AssetKey:
    return AssetKey(["scoring", table])


def _preview(con, table: str, columns: str, n: int = 10) -> MetadataValue:
    return markdown_table(con.execute(f"SELECT {columns} FROM scoring.{table} LIMIT {n}"))


def metric(value: float | None) -> MetadataValue:
    """A backtest figure as Dagster metadata: NaN when there is none (the backtest was skipped)."""
    return MetadataValue.float(float("nan") if value is None else float(value))


def markdown_table(result) -> MetadataValue:
    """A DuckDB result as a Markdown table (tabulate, as pandas' to_markdown, without loading pandas here)."""
    from tabulate import tabulate

    rows = result.fetchall()
    headers = [d[0] for d in result.description]
    return MetadataValue.md(tabulate(rows, headers, tablefmt="pipe") if rows else "(empty)")


@multi_asset(
    name="icp_model",
    specs=[AssetSpec(scoring_key(t), deps=[FEATURES_KEY], group_name="scoring", kinds={"duckdb", "scikitlearn"},
                     owners=[OWNER], description=d) for t, d in SCORING_TABLES.items()],
)
def icp_model(context: AssetExecutionContext, refresh_lock: RefreshLock):
    """Learn the ICP from account_features and score every account (pipelines/icp/model.py)."""
    paths = Paths.resolve()
    previous = previous_publication(paths)
    if previous is not None and live_publication(paths) is None:
        context.log.warning(f"the serving link {paths.serving} is missing or broken: ranks and history are carried "
                            f"over from the newest complete publication, {previous.name}")
    start_scoring_file(paths)  # a new file for the scoring tables, with the live publication's history
    with warehouse(paths) as con:
        result = build_icp(con, load_config(), context.run_id,
                           datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0),
                           previous / "icp.duckdb" if previous else None)
    for message in result.warnings:
        context.log.warning(message)
    with warehouse(paths, read_only=True) as con:
        counts = {t: con.execute(f"SELECT count(*) FROM scoring.{t}").fetchone()[0] for t in SCORING_TABLES}
        previews = {
            "target_accounts": _preview(con, "target_accounts", "rank, account_name, industry, employee_count, "
                                        "fit_score, fit_tier, priority_score, reasons"),
            "icp_segments": _preview(con, "icp_segments", "segment_id, segment_label, kind, n_accounts, "
                                     "n_customers, ideal_rate, lift", n=20),
            "model_evaluation_tiers": _preview(con, "model_evaluation_tiers", "*"),
        }
    common = {"model_version": result.model_version, "model_kind": result.model_kind}
    metrics = {
        "backtest_auc": metric(result.backtest_auc),
        "backtest_value_auc": metric(result.backtest_value_auc),
        "lift_top_vs_bottom": metric(result.lift_top_vs_bottom),
        "recall_top_30pct": metric(result.recall_top_30pct),
        "n_test": result.n_test,
    }
    for table in SCORING_TABLES:
        metadata = {**common, "dagster/row_count": counts[table]}
        if table in previews:
            metadata["preview"] = previews[table]
        if table in ("model_evaluation", "target_accounts"):
            metadata.update(metrics)
        if table == "target_accounts":
            metadata["target_list_warning"] = result.target_list_warning or "none"
        if table == "account_scores":
            metadata.update({"customers": result.n_customers, "ideal_customers": result.n_ideal})
        if table == "icp_segments":
            metadata["segments"] = result.n_segments
        yield MaterializeResult(asset_key=scoring_key(table), metadata=metadata)
