"""The dbt project as Dagster assets (every model and seed an asset, every dbt test an asset check), in two steps:
the features before the ICP fit, the scoring models after it."""

import json
import os
from typing import Any, Mapping

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_project.dbt_settings import DBT_PROJECT, dbt_vars
from dagster_project.owners import OWNER
from dagster_project.refresh_lock import RefreshLock
from dagster_project.scoring_assets import SCORED_TABLES
from pipelines.icp.attributes import FEATURES
from pipelines.icp.inputs import REFERENCE_DATES, STATE_AT_CUTOFF
from pipelines.paths import Paths
from pipelines.spark import describe, engine, exchanged, read_spark_tables, spark_environment
from pipelines.warehouse import SCORING, warehouse

# The manifest is parsed by `make setup` (`icp prepare`), and again by `dagster dev` on every load.
DBT_PROJECT.prepare_if_dev()


class IcpDbtTranslator(DagsterDbtTranslator):
    """Sources map onto the assets that write them (raw/<table>: the ingest; fit/<table>, carried/<table>: the fit);
    models are grouped by their folder (stage)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        if dbt_resource_props["resource_type"] == "seed":
            return AssetKey([dbt_resource_props["config"].get("schema") or "main", dbt_resource_props["name"]])
        return AssetKey([self.get_group_name(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "marts"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [OWNER]


SCORING_MODELS = "path:models/scoring"  # the scoring models run after the fit, which reads the features
# On Spark, what the pipeline's own steps read of dbt's models afterwards: the features, read in place (views of
# their Parquet files), and the published scoring models (SCORED_TABLES), copied into the scoring file that
# publications start from.
SPARK_READ = [FEATURES, STATE_AT_CUTOFF, REFERENCE_DATES]


def _build(context: AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build` of the selected models (each with its data tests, as asset checks). dbt's unit tests check the
    models' SQL on fixed rows, not the night's data: as dbt recommends, they run in development and CI (`make
    test`), not in production. On Spark, the tables handed over are registered first (var `exchange`), and the
    models the next steps read are made readable in the build database afterwards (pipelines/spark.py)."""
    paths = Paths.resolve()
    target = engine()  # profiles.yml has an output per engine
    on_spark = target == "spark"
    variables = dbt_vars()
    os.environ.update(paths.dbt_env)  # profiles.yml reads this home's database files from the environment
    if on_spark:
        os.environ.update(spark_environment(paths))
        variables["exchange"] = exchanged(paths)
    # dbt's log file at info level (one line per node): its debug level logs every SQL statement.
    args = ["build", "--target", target, "--exclude-resource-type", "unit_test", "--log-level-file", "info",
            "--vars", json.dumps(variables)]
    yield from dbt.cli(args, context=context, target_path=paths.dbt_target).stream()
    if on_spark:
        built = context.selected_asset_keys
        with warehouse(paths) as con:
            read = [r for r in SPARK_READ if AssetKey(r.split(".")) in built]
            read_spark_tables(con, paths, read)
            nodes = json.loads(DBT_PROJECT.manifest_path.read_text())["nodes"]
            for relation in read:  # the models' docs, which dbt-duckdb writes as DuckDB comments (persist_docs):
                spec = context.assets_def.specs_by_key[AssetKey(relation.split("."))]  # published with them
                node = nodes[spec.metadata["dagster_dbt/unique_id"]]
                describe(con, relation, node["description"],
                         {name: column["description"] for name, column in node["columns"].items()})
            read_spark_tables(con, paths, [f"published.{t}" for t in SCORED_TABLES
                                           if AssetKey(["scoring", t]) in built], into=SCORING)


TRANSLATOR = IcpDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT, dagster_dbt_translator=TRANSLATOR,
            exclude=SCORING_MODELS)
def icp_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, refresh_lock: RefreshLock):
    """The seed, the staging and intermediate models and the marts (account_features, account_state_at_cutoff)."""
    yield from _build(context, dbt)


@dbt_assets(manifest=DBT_PROJECT.manifest_path, project=DBT_PROJECT, dagster_dbt_translator=TRANSLATOR,
            select=SCORING_MODELS, name="icp_dbt_scoring")
def icp_dbt_scoring(context: AssetExecutionContext, dbt: DbtCliResource, refresh_lock: RefreshLock):
    """The scoring models: every account scored with the fit's tables, its segment, status and the ranked target
    list (account_scores, icp_segments and target_accounts are published)."""
    yield from _build(context, dbt)
