"""dagster-dbt, imported without dbt-core's Python package: the one place where dagster-dbt enters the project.

dagster-dbt imports dbt-core (about 2 s: dbt, dbt_common, agate, mashumaro's schemas) only for dbt's version and a
few enums, which it defines itself when dbt-core cannot be imported (as for dbt Fusion): it always drives dbt as
an executable. This project never runs dbt inside Dagster's process either: dbt runs in its own process, its version comes from the package metadata and no adapter is opened here (IcpDbtCliResource).
So dbt-core is hidden while dagster-dbt loads, and visible again afterwards for any later import of it.
"""
import sys


def _import_without_dbt_core() -> None:
    if "dagster_dbt" in sys.modules:  # loaded before (with or without dbt-core): either works
        return
    hidden = "dbt" not in sys.modules
    if hidden:
        sys.modules["dbt"] = None  # type: ignore[assignment]  # `import dbt...` raises ImportError
    try:
        import dagster_dbt  # noqa: F401
    finally:
        if hidden:
            del sys.modules["dbt"]


_import_without_dbt_core()

from dagster_dbt import (DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource,  # noqa: E402
                         DbtProject, dbt_assets)
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets  # noqa: E402

__all__ = ["DagsterDbtTranslator", "DagsterDbtTranslatorSettings", "DbtCliResource", "DbtProject", "dbt_assets",
           "get_manifest_and_translator_from_dbt_assets"]
