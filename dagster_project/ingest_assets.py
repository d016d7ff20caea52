"""The ingest: one Dagster asset per landing entity, all materialized in one step. The refresh's engine (DuckDB, or
Spark) reads the files, applies the contract, quarantines problems."""

import sys
from datetime import timedelta
from typing import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    PipesSubprocessClient,
    multi_asset,
)

from dagster_project.owners import OWNER
from dagster_project.refresh_lock import RefreshLock
from pipelines.ingest import ORDER, EntityReport, Ingestor, ingest_entities, upstream
from pipelines.mapping import Mapping, MappingError, mapping_for
from pipelines.paths import Paths
from pipelines.spark import engine, spark_environment
from pipelines.warehouse import warehouse
from schemas.contract import Entity, landing_contract



def raw_key(entity: Entity) -> AssetKey:
    return AssetKey(["raw", entity.table])


def _match_metadata(matched: dict[str, int]) -> dict:
    """The share of rows matched to a CRM account, and how they were matched."""
    total = sum(matched.values())
    rate = (total - matched.get("unmatched", 0)) / total if total else 0.0
    return {
        "account_match_rate": MetadataValue.float(round(rate, 4)),
        "account_matches": MetadataValue.md("\n".join(f"- {how}: {n:,}" for how, n in matched.items())),
    }


def _spec(entity: Entity) -> AssetSpec:
    contract = landing_contract().entities
    return AssetSpec(
        raw_key(entity),
        deps=[raw_key(contract[name]) for name in upstream(entity)],
        group_name="ingest",
        kinds={"duckdb"},
        owners=[OWNER],
        # Refreshed nightly: late after a day without a refresh, failing after two.
        freshness_policy=FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=26)),
        description=(f"Landing entity {entity.name} ({'required' if entity.required else 'optional'}), read by the "
                     f"refresh's engine from <landing>/{entity.name}.* and checked against the landing contract; "
                     f"every row lands with its verdict in raw.{entity.table}__landed, good rows in the view "
                     f"raw.{entity.table}, problems in raw.quarantine."),
    )


def _metadata(report: EntityReport) -> dict:
    metadata = {
        "files_read": len(report.files),
        "files": MetadataValue.md("\n".join(f"- `{f}`" for f in report.files) or "none (optional entity absent)"),
        "rows_read": report.rows_read,
        "rows_kept": report.rows_kept,
        "rows_rejected": report.rows_rejected,
        "rows_superseded": report.rows_superseded,
        "values_nulled": report.values_nulled,
        "top_reasons": MetadataValue.md("\n".join(f"- {reason}: {n:,}" for reason, n in report.top_reasons) or "none"),
        "rows_excluded_by_mapping": report.rows_excluded,
        "rows_unmatched": report.rows_unmatched,
        "dagster/row_count": report.rows_kept,
    }
    if report.mapped_by:
        metadata["mapped_by"] = report.mapped_by
    if report.matched:
        metadata.update(_match_metadata(report.matched))
    return metadata


ENTITIES = [landing_contract().entities[name] for name in ORDER]


def _ingested(context: AssetExecutionContext, pipes: PipesSubprocessClient, paths: Paths, mapping: Mapping | None,
              names: list[str]) -> Iterator[tuple[str, EntityReport | None, str]]:
    """Each entity ingested (see pipelines.ingest.ingest_entities): by DuckDB on one connection, or by Spark in
    a process of its own, started through Dagster Pipes (dagster_project/spark_ingest_process.py)."""
    if engine() == "spark":
        # Java is there (or a clear error); the process's Spark reads the home's settings and logging settings
        env = spark_environment(paths)
        command = [sys.executable, "-m", "dagster_project.spark_ingest_process"]
        invocation = pipes.run(context=context, command=command, extras={"entities": names}, env=env)
        for message in invocation.get_custom_messages():
            yield message["entity"], message["report"] and EntityReport(**message["report"]), message["error"]
        return
    # Uncompressed: dbt reads the raw tables once per refresh; compressing them cost a quarter of the load.
    with warehouse(paths, compress=False) as con:
        yield from ingest_entities(Ingestor(con, paths.landing, context.run_id, mapping), names)


@multi_asset(name="ingest", specs=[_spec(entity) for entity in ENTITIES], can_subset=True)
def ingest(context: AssetExecutionContext, refresh_lock: RefreshLock,
           pipes_subprocess_client: PipesSubprocessClient):
    """Ingest the selected landing entities, in dependency order, in one step (a step per entity would open the
    warehouse and start a Dagster step eight times). An entity that fails is reported after the others that do
    not depend on it, so one run names every broken entity."""
    paths = Paths.resolve()
    try:
        mapping = mapping_for(paths.landing)
    except MappingError as exc:
        raise Failure(description=str(exc), metadata={"landing": str(paths.landing)}) from exc
    failed: dict[str, str] = {}
    names = [entity.name for entity in ENTITIES if raw_key(entity) in context.selected_asset_keys]
    for name, report, error in _ingested(context, pipes_subprocess_client, paths, mapping, names):
        if report is None:
            failed[name] = error
            continue
        yield MaterializeResult(asset_key=raw_key(landing_contract().entities[name]), metadata=_metadata(report))
    if failed:
        raise Failure(description="; ".join(failed.values()),
                      metadata={"entities": ", ".join(failed), "landing": str(paths.landing)})
