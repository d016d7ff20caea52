"""The ingest: one Dagster asset per landing entity, all materialized in one step. The refresh's engine (DuckDB, or
Spark) reads the files, applies the contract, quarantines problems."""

from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from dagster_project.owners import OWNER
from dagster_project.refresh_lock import RefreshLock
from pipelines.ingest import ORDER, EntityReport, LandingError, upstream
from pipelines.mapping import MappingError, mapping_for
from pipelines.paths import Paths
from pipelines.spark import engine
from pipelines.spark_ingest import ingestor_for
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
                     f"every row lands with its verdict in raw.{entity.table}__landed, good rows in the view raw.{entity.table}, "
                     f"problems in raw.quarantine."),
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


@multi_asset(name="ingest", specs=[_spec(entity) for entity in ENTITIES], can_subset=True)
def ingest(context: AssetExecutionContext, refresh_lock: RefreshLock):
    """Ingest the selected landing entities, in dependency order, on one connection (one step: a step per entity
    would open the warehouse and start a Dagster step eight times). An entity that fails is reported after the others that do not
    depend on it, so one run names every broken entity."""
    paths = Paths.resolve()
    try:
        mapping = mapping_for(paths.landing)
    except MappingError as exc:
        raise Failure(description=str(exc), metadata={"landing": str(paths.landing)}) from exc
    failed: dict[str, str] = {}
    # Uncompressed: dbt reads the raw tables once per refresh; compressing them cost a quarter of the load.
    with warehouse(paths, compress=False) as con, \
            ingestor_for(con, paths, context.run_id, mapping, engine()) as ingestor:
        for entity in ENTITIES:
            if raw_key(entity) not in context.selected_asset_keys or any(u in failed for u in upstream(entity)):
                continue
            try:
                report = ingestor.ingest(entity.name)
            except LandingError as exc:
                failed[entity.name] = str(exc)
                continue
            yield MaterializeResult(asset_key=raw_key(entity), metadata=_metadata(report))
    if failed:
        raise Failure(description="; ".join(failed.values()),
                      metadata={"entities": ", ".join(failed), "landing": str(paths.landing)})
