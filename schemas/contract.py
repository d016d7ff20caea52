"""The project's own copy of the landing and serving contracts (landing.yaml, serving.yaml), as objects."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

HERE = Path(__file__).parent
LANDING_TYPES = ("string", "integer", "decimal", "boolean", "date", "timestamp")
# The DuckDB type of each contract type (raw tables and the serving tables alike).
SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "decimal": "DOUBLE", "boolean": "BOOLEAN",
             "date": "DATE", "timestamp": "TIMESTAMP"}


@dataclass(frozen=True)
class Column:
    """One contract column and its row rules."""

    name: str
    type: str
    required: bool = False
    allowed: tuple[str, ...] | None = None
    range: tuple[float | None, float | None] | None = None
    references: str | None = None
    doc: str = ""


@dataclass(frozen=True)
class Entity:
    """One landing entity, e.g. crm/accounts."""

    name: str
    required: bool
    primary_key: str
    columns: tuple[Column, ...]

    @property
    def system(self) -> str:
        return self.name.split("/")[0]

    @property
    def table(self) -> str:
        """The entity's table name in the build database, e.g. crm_accounts."""
        return self.name.replace("/", "_")

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


@dataclass(frozen=True)
class LandingContract:
    max_rejected_share: float
    entities: dict[str, Entity]


@lru_cache(maxsize=None)
def landing_contract() -> LandingContract:
    """The landing contract (schemas/landing.yaml), parsed and checked."""
    raw = yaml.safe_load((HERE / "landing.yaml").read_text())
    entities = {}
    for name, spec in raw["entities"].items():
        cols = []
        for col, c in spec["columns"].items():
            if c["type"] not in LANDING_TYPES:
                raise ValueError(f"landing.yaml: {name}.{col} has unknown type {c['type']!r}")
            cols.append(Column(
                name=col, type=c["type"], required=bool(c.get("required", False)),
                allowed=tuple(str(v).lower() for v in c["allowed"]) if "allowed" in c else None,
                range=tuple(c["range"]) if "range" in c else None,
                references=c.get("references"), doc=c.get("doc", ""),
            ))
        entities[name] = Entity(name=name, required=bool(spec.get("required", False)),
                                primary_key=spec["primary_key"], columns=tuple(cols))
    return LandingContract(max_rejected_share=float(raw["max_rejected_share"]), entities=entities)


@dataclass(frozen=True)
class ServingTable:
    name: str
    doc: str
    columns: dict[str, str]  # column -> contract type
    partition_by: str | None = None  # its Parquet is a Hive-partitioned folder by this column, not one file

    def parquet_path(self, folder: Path) -> Path:
        """Where the table's Parquet is in a publication's `parquet` folder: a file, or a partitioned folder."""
        return folder / (self.name if self.partition_by else f"{self.name}.parquet")

    def parquet_glob(self, folder: Path) -> Path:
        """The pattern that reads all of the table's Parquet (read_parquet, with hive_partitioning)."""
        return self.parquet_path(folder) / "*" / "*.parquet" if self.partition_by else self.parquet_path(folder)


@lru_cache(maxsize=None)
def serving_contract() -> dict[str, ServingTable]:
    """The serving contract (schemas/serving.yaml): every published table and its required columns."""
    raw = yaml.safe_load((HERE / "serving.yaml").read_text())
    return {
        name: ServingTable(name=name, doc=spec.get("doc", ""),
                           columns={col: c["type"] for col, c in spec["columns"].items()},
                           partition_by=spec.get("parquet_partition_by"))
        for name, spec in raw["tables"].items()
    }
