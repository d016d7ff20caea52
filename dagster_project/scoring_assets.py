"""The ICP stage around dbt's scoring models: the fit (Python, on the accounts with an outcome) before them, the
backtest and evaluation tables after them."""

from datetime import datetime, timezone

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from dagster_project.owners import OWNER
from dagster_project.refresh_lock import RefreshLock
from pipelines.config import load_config
from pipelines.icp.evaluation import evaluate_icp
from pipelines.icp.model import fit_icp
from pipelines.paths import Paths
from pipelines.publish import HISTORY, live_publication, previous_publication, start_scoring_file
from pipelines.spark import engine, hand_to_spark
from pipelines.warehouse import SCORING, warehouse

FEATURES_KEY = AssetKey(["marts", "account_features"])
STATE_AT_CUTOFF_KEY = AssetKey(["marts", "account_state_at_cutoff"])
FIT_TABLES = {
    "accounts": "The accounts the fit learned from (with an outcome; a hashed sample above model.max_fit_accounts).",
    "levels": "Every level of every scored attribute group, with its test, points and reason text.",
    "model": "The fitted model's version, scale, intercepts and tier thresholds.",
    "segments": "Each segment's rule order, label, kind and evidence.",
    "segment_rules": "Each segment's rule as conditions over the segment tree's inputs.",
    "segment_codes": "The codes of the category levels the segment rules compare.",
    "customer_labels": "Every customer's value_index, is_ideal and bad-fit label.",
}
FITTED_TABLES = {
    "fit_scorecard": "The fit scorecard: points per attribute level.",
    "fit_attributes": "How each scorecard attribute reads an account's level (for icp explain).",
    "fit_attribute_checks": "The leakage guard: each pre-sale attribute's missing share among customers, lost "
                            "accounts and prospects, and whether the fit used it.",
}
SCORED_TABLES = ["account_scores", "icp_segments", "target_accounts"]  # dbt's published scoring models
EVALUATION_TABLES = {
    "model_evaluation": "Out-of-time backtest of the model behind this refresh.",
    "model_evaluation_tiers": "Backtest conversion, valuable customers and new revenue per fit tier.",
    "model_evaluation_calibration": "Backtest calibration: fit_probability against the observed valuable rate.",
    "model_evaluation_gain": "Backtest cumulative gain: share of conversions found by calling the top share of accounts.",
}
HISTORY_KEY = AssetKey(["carried", "target_accounts_history"])
SCORING_TABLES = [*FITTED_TABLES, *SCORED_TABLES, *EVALUATION_TABLES]  # what the scoring file publishes


def scoring_key(table: str) -> AssetKey:
    return AssetKey(["scoring", table])


def fit_key(table: str) -> AssetKey:
    return AssetKey(["fit", table])


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
    name="icp_fit",
    specs=[AssetSpec(fit_key(t), deps=[FEATURES_KEY], group_name="fit", kinds={"duckdb", "scikitlearn"},
                     owners=[OWNER], description=d) for t, d in FIT_TABLES.items()]
    + [AssetSpec(scoring_key(t), deps=[FEATURES_KEY], group_name="scoring", kinds={"duckdb", "scikitlearn"},
                 owners=[OWNER], description=d) for t, d in FITTED_TABLES.items()]
    + [AssetSpec(HISTORY_KEY, group_name="fit", kinds={"duckdb"}, owners=[OWNER],
                 description="The live publication's target_accounts_history, carried into this refresh's scoring "
                             "file (the scoring models read the previous ranks from it).")],
)
def icp_fit(context: AssetExecutionContext, refresh_lock: RefreshLock):
    """Learn the ICP from the accounts with an outcome (pipelines/icp/model.py) and write the fitted model as
    tables for dbt's scoring models; start the refresh's scoring file with the live publication's history."""
    paths = Paths.resolve()
    previous = previous_publication(paths)
    if previous is not None and live_publication(paths) is None:
        context.log.warning(f"the serving link {paths.serving} is missing or broken: ranks and history are carried "
                            f"over from the newest complete publication, {previous.name}")
    start_scoring_file(paths)
    with warehouse(paths) as con:
        result = fit_icp(con, load_config(), datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0))
        if engine() == "spark":  # dbt's scoring models read them there
            hand_to_spark(con, paths, {**{f"fit.{t}": f"fit.{t}" for t in FIT_TABLES},
                                       f"carried.{HISTORY}": f"{SCORING}.main.{HISTORY}"})
    for message in result.warnings:
        context.log.warning(message)
    if result.n_fit_accounts < result.n_outcomes:
        context.log.info(f"the fit learned from a sample of {result.n_fit_accounts:,} of the {result.n_outcomes:,} "
                         "accounts with an outcome (model.max_fit_accounts)")
    common = {"model_version": result.model_version, "model_kind": result.model_kind,
              "fit_accounts": result.n_fit_accounts, "accounts_with_outcome": result.n_outcomes}
    for key in [*map(fit_key, FIT_TABLES), *map(scoring_key, FITTED_TABLES), HISTORY_KEY]:
        metadata = dict(common)
        if key == fit_key("customer_labels"):
            metadata.update({"customers": result.n_customers, "ideal_customers": result.n_ideal})
        if key == fit_key("segments"):
            metadata["segments"] = result.n_segments
        yield MaterializeResult(asset_key=key, metadata=metadata)


@multi_asset(
    name="icp_evaluation",
    specs=[AssetSpec(scoring_key(t), deps=[STATE_AT_CUTOFF_KEY, *map(scoring_key, SCORED_TABLES),
                                           *map(fit_key, FIT_TABLES)],
                     group_name="scoring", kinds={"duckdb", "scikitlearn"}, owners=[OWNER], description=d)
           for t, d in EVALUATION_TABLES.items()],
)
def icp_evaluation(context: AssetExecutionContext, refresh_lock: RefreshLock):
    """Backtest the refresh's model at its cutoff and write the evaluation tables (pipelines/icp/evaluation.py)."""
    paths = Paths.resolve()
    with warehouse(paths) as con:
        result = evaluate_icp(con, load_config(), datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0))
    for message in result.warnings:
        context.log.warning(message)
    with warehouse(paths, read_only=True) as con:
        previews = {
            "model_evaluation_tiers": markdown_table(con.execute("SELECT * FROM scoring.model_evaluation_tiers")),
            "top_targets": markdown_table(con.execute(
                "SELECT rank, account_name, industry, employee_count, fit_score, fit_tier, priority_score, reasons "
                "FROM scoring.target_accounts ORDER BY rank LIMIT 10")),
        }
    metrics = {
        "model_version": result.model_version,
        "backtest_auc": metric(result.backtest_auc),
        "backtest_value_auc": metric(result.backtest_value_auc),
        "lift_top_vs_bottom": metric(result.lift_top_vs_bottom),
        "recall_top_30pct": metric(result.recall_top_30pct),
        "n_test": result.n_test,
        "n_targets": result.n_targets,
        "target_list_warning": result.target_list_warning or "none",
    }
    for table in EVALUATION_TABLES:
        metadata = dict(metrics)
        if table == "model_evaluation_tiers":
            metadata["preview"] = previews[table]
        if table == "model_evaluation":
            metadata["top_targets"] = previews["top_targets"]
        yield MaterializeResult(asset_key=scoring_key(table), metadata=metadata)
