"""One ingest asset per landing entity: DuckDB reads the files, applies the contract, quarantines problems."""

from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from pipelines import worker
from pipelines.ingest import AMOUNT_COLUMNS, ORDER, Ingestor, LandingError
from pipelines.mapping import MappingError, mapping_for
from pipelines.paths import Paths
from pipelines.warehouse import warehouse
from schemas.contract import Entity, landing_contract

OWNER = "team:data-engineering"


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


def _ingest_asset(entity: Entity) -> AssetsDefinition:
    contract = landing_contract().entities
    deps = []
    if any(c.references for c in entity.columns):
        deps.append(raw_key(contract["crm/accounts"]))
    if entity.name in AMOUNT_COLUMNS:
        deps.append(raw_key(contract["reference/fx_rates"]))

    @asset(
        key=raw_key(entity),
        deps=deps,
        group_name="ingest",
        kinds={"duckdb"},
        owners=[OWNER],
        # Refreshed nightly: late after a day without a refresh, failing after two.
        freshness_policy=FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=26)),
        description=(f"Landing entity {entity.name} ({'required' if entity.required else 'optional'}), read by DuckDB "
                     f"from <landing>/{entity.name}.* and checked against the landing contract; every row lands with "
                     f"its verdict in raw.{entity.table}__landed, good rows in the view raw.{entity.table}, "
                     f"problems in raw.quarantine."),
    )
    def _ingest(context: AssetExecutionContext) -> MaterializeResult:
        worker.start()  # it loads the later steps' libraries on the CPU the ingest leaves idle (pipelines/worker.py)
        paths = Paths.resolve()
        try:
            mapping = mapping_for(paths.landing)
            # Uncompressed: dbt reads the raw tables once per refresh; compressing them cost a quarter of the load.
            with warehouse(paths, compress=False) as con:
                report = Ingestor(con, paths.landing, context.run_id, mapping).ingest(entity.name)
        except MappingError as exc:
            raise Failure(description=str(exc), metadata={"entity": entity.name}) from exc
        except LandingError as exc:
            raise Failure(description=str(exc), metadata={"entity": entity.name, "landing": str(paths.landing)}) from exc
        metadata = {
            "files_read": len(report.files),
            "files": MetadataValue.md("\n".join(f"- `{f}`" for f in report.files) or "none (optional entity absent)"),
            "rows_read": report.rows_read,
            "rows_kept": report.rows_kept,
            "rows_rejected": report.rows_rejected,
            "rows_superseded": report.rows_superseded,
            "values_nulled": report.values_nulled,
            "top_reasons": MetadataValue.md(
                "\n".join(f"- {reason}: {n:,}" for reason, n in report.top_reasons) or "none"),
            "rows_excluded_by_mapping": report.rows_excluded,
            "rows_unmatched": report.rows_unmatched,
            "dagster/row_count": report.rows_kept,
        }
        if report.mapped_by:
            metadata["mapped_by"] = report.mapped_by
        if report.matched:
            metadata.update(_match_metadata(report.matched))
        return MaterializeResult(metadata=metadata)

    _ingest.__name__ = f"ingest_{entity.table}"
    return _ingest


INGEST_ASSETS = [_ingest_asset(landing_contract().entities[name]) for name in ORDER]
