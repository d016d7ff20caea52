"""Source mappings: how exports of another shape (Salesforce, HubSpot, Stripe, Zendesk, a data set of its own
shape) map onto the landing contract's entities.

A mapping is YAML (`icp-mapping.yaml` in the landing folder, or `icp refresh --mapping FILE`). It is validated
here, with errors that name the offending key; `pipelines/mapped_sql.py` compiles it into the SELECT that the
ingest step runs per file, so mapped rows meet the same contract rules and quarantine as native ones.
With no mapping file, folders named after a preset (`salesforce/`, `hubspot/`, `stripe/`, `zendesk/`) in the
landing folder switch that preset on.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.landing_files import LandingError, inside_landing
from pipelines.mapping_sandbox import UnsafeExpression, checked_expression
from schemas.contract import landing_contract

MAPPING_FILE = "icp-mapping.yaml"
PRESET_DIR = Path(__file__).parent / "mapping_presets"
PRESETS = tuple(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))


class MappingError(ValueError):
    """A mapping file is malformed or names something that does not exist."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ColumnSpec(_Strict):
    """Where one contract column's value comes from: a source column (or the first present of several), a SQL
    expression over the source columns, or a constant; then optionally a value map and a date format."""

    column: list[str] | None = None
    sql: str | None = None
    value: str | None = None
    values: dict[str, str | None] | None = Field(
        None, description="source value -> contract value, matched case-insensitively; '*' maps every other value")
    split: str | None = Field(None, description="the value is a list with this separator: take its first item")
    format: str | None = Field(None, description="strptime format of a date or timestamp, e.g. '%d/%m/%Y', or "
                                                 "'epoch' for seconds since 1970 (as Stripe's API gives them)")
    optional: bool = Field(False, description="a missing source column gives null instead of an error")

    @field_validator("column", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        """`name` or `[name, other]` is short for `{column: ...}`."""
        return {"column": v} if isinstance(v, (str, list)) else v

    @model_validator(mode="after")
    def _one_source(self) -> "ColumnSpec":
        given = [k for k in ("column", "sql", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of column, sql or value (got {', '.join(given) or 'none'})")
        return self


class Join(_Strict):
    """Another file joined to each source row, its columns reachable as `<as>.<column>` in SQL expressions."""

    files: list[str]
    as_: str = Field(alias="as", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    on: list[str] = Field(description="the source column to join on (or the first present of several)")
    key: str | None = Field(None, description="the joined file's column (default: the same name as `on`)")

    @field_validator("files", "on", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Where(_Strict):
    """Rows to take; the others go to quarantine as `excluded` with `reason` (derived entities skip them)."""

    sql: str
    reason: str = "excluded by the mapping's where clause"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        return {"sql": v} if isinstance(v, str) else v


class FirstPer(_Strict):
    """Keep one row per `key` (a contract column): the first by `order_by` (a contract column)."""

    key: str
    order_by: str


class IdMap(_Strict):
    """An explicit mapping file from another system's ids to CRM account ids."""

    file: str
    id: str = "source_id"
    account_id: str = "account_id"
    required: bool = Field(True, description="false: no file is the same as an empty map (used by presets)")


class AccountMatch(_Strict):
    """How rows of a billing or support system find their CRM account: an id map first, else the contact with
    that e-mail, else the account with the e-mail's domain, else the account with that website domain."""

    id: ColumnSpec | None = Field(None, description="the row's id in its own system (looked up in id_map)")
    id_map: IdMap | None = None
    email: ColumnSpec | None = None
    domain: ColumnSpec | None = None
    max_unmatched_share: float = Field(
        0.5, ge=0, le=1, description="more unmatched rows than this stops the refresh (matching looks broken); "
                                     "unmatched rows do not count toward the contract's max_rejected_share")

    @model_validator(mode="after")
    def _something_to_match(self) -> "AccountMatch":
        if not (self.id_map or self.email or self.domain):
            raise ValueError("give id_map, email or domain to match accounts by")
        if self.id_map and not self.id:
            raise ValueError("id_map needs `id`: the column with this system's own customer id")
        return self


class EntityMapping(_Strict):
    """How one contract entity is read from files of another shape."""

    files: list[str] | None = Field(None, description="glob patterns relative to the landing folder, any case")
    from_: str | None = Field(None, alias="from", description="derive this entity from another mapped entity's files")
    join: list[Join] = []
    where: Where | None = None
    first_per: FirstPer | None = None
    account: AccountMatch | None = None
    columns: dict[str, ColumnSpec] = {}

    @field_validator("files", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _files_or_from(self) -> "EntityMapping":
        if (self.files is None) == (self.from_ is None):
            raise ValueError("give either files or from")
        return self


class Mapping(_Strict):
    """A whole mapping file."""

    version: int = 1
    presets: list[str] = []
    entities: dict[str, EntityMapping] = {}
    source: str = Field("", exclude=True, description="where the mapping came from, for messages")

    def where_key(self, *keys: str) -> str:
        """`<file>: entities.<entity>.<key>...`, the way messages point at a key."""
        return f"{self.source}: " + ".".join(("entities",) + keys)


def _locate(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith(("function-", "str", "list[")))


def _validate(raw: Any, source: str) -> Mapping:
    try:
        mapping = Mapping.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(f"{_locate(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise MappingError(f"{source}: {problems}") from exc
    mapping.source = source
    _check_names(mapping)
    _check_expressions(mapping)
    return mapping


def _expressions(em: EntityMapping) -> Iterator[tuple[tuple[str, ...], Where | ColumnSpec]]:
    """Every part of an entity mapping that holds a SQL expression, with its key."""
    if em.where is not None:
        yield ("where", "sql"), em.where
    for col, spec in em.columns.items():
        yield ("columns", col, "sql"), spec
    if em.account is not None:
        for key in ("id", "email", "domain"):
            spec = getattr(em.account, key)
            if spec is not None:
                yield ("account", key, "sql"), spec


def _check_expressions(mapping: Mapping) -> None:
    """Refuse, before anything runs, every SQL text that is not one allowed expression (pipelines/mapping_sandbox.py),
    naming the mapping file, the entity and the key; keep each as DuckDB renders it from the tree it checked."""
    with duckdb.connect() as con:
        con.execute("SET enable_external_access = false")
        for name, em in mapping.entities.items():
            for keys, part in _expressions(em):
                if part.sql is None:
                    continue
                try:
                    part.sql = checked_expression(con, part.sql)
                except UnsafeExpression as exc:
                    raise MappingError(f"{mapping.where_key(name, *keys)}: {exc}; a mapping's SQL is one expression "
                                       f"over the source columns") from exc


def _check_names(mapping: Mapping) -> None:
    """Entity and column names must exist in the landing contract, presets must exist, `from` must resolve."""
    contract = landing_contract().entities
    src = mapping.source
    for preset in mapping.presets:
        if preset not in PRESETS:
            raise MappingError(f"{src}: presets: unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    for name, em in mapping.entities.items():
        if name not in contract:
            raise MappingError(f"{src}: entities.{name}: not a landing entity (known: {', '.join(contract)})")
        cols = [c.name for c in contract[name].columns]
        for col in em.columns:
            if col not in cols:
                raise MappingError(f"{mapping.where_key(name, 'columns', col)}: not a column of {name} "
                                   f"(columns: {', '.join(cols)})")
        if em.account is not None:
            if not any(c.references for c in contract[name].columns):
                raise MappingError(f"{mapping.where_key(name, 'account')}: {name} has no account_id to match")
            if "account_id" in em.columns:
                raise MappingError(f"{mapping.where_key(name, 'account')}: give account_id either in columns or "
                                   f"by account matching, not both")
        if em.first_per is not None:
            if em.from_ is None:
                raise MappingError(f"{mapping.where_key(name, 'first_per')}: only a derived entity (one with "
                                   f"`from`) can keep the first row per key")
            for key in ("key", "order_by"):
                if getattr(em.first_per, key) not in cols:
                    raise MappingError(f"{mapping.where_key(name, 'first_per', key)}: not a column of {name}")
        if em.from_ is not None:
            base = mapping.entities.get(em.from_)
            if base is None or base.files is None:
                raise MappingError(f"{mapping.where_key(name, 'from')}: {em.from_!r} is not an entity of this "
                                   f"mapping that reads files")


def _preset(name: str) -> dict[str, Any]:
    raw = _read_yaml(PRESET_DIR / f"{name}.yaml")
    for em in raw["entities"].values():  # preset columns are all optional unless the contract requires them
        for col, spec in em.get("columns", {}).items():
            if isinstance(spec, (str, list)):
                em["columns"][col] = spec = {"column": spec}
            spec.setdefault("optional", True)
    return raw["entities"]


def _merge(presets: list[str], entities: dict[str, Any]) -> dict[str, Any]:
    """Preset entity mappings, overridden key by key (and column by column) by the mapping's own."""
    merged: dict[str, Any] = {}
    for name in presets:
        for entity, em in _preset(name).items():
            merged[entity] = dict(em)
    for entity, em in (entities or {}).items():
        base = merged.get(entity, {})
        merged[entity] = {**base, **(em or {}),
                          "columns": {**base.get("columns", {}), **((em or {}).get("columns") or {})}}
    return merged


class _Yaml12Loader(yaml.SafeLoader):
    """YAML as version 1.2 reads it: only true/false are booleans, so `on:`, `yes:` and `no:` stay strings
    (a join's `on`, value maps of Yes/No flags)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                    list("tTfF"))


def _read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping file (its presets merged in)."""
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"mapping file {path} does not exist")
    try:
        raw = _read_yaml(path) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: expected keys version, presets and entities at the top")
    presets = raw.get("presets") or []
    if isinstance(presets, list) and all(p in PRESETS for p in presets) and isinstance(raw.get("entities", {}), dict):
        raw = {**raw, "entities": _merge(presets, raw.get("entities") or {})}
    return _validate(raw, str(path))


def detected_presets(landing: Path) -> list[str]:
    """Presets whose folder (e.g. `salesforce/`) exists in the landing folder, in any case."""
    if not landing.is_dir():
        return []
    folders = {p.name.lower() for p in landing.iterdir() if p.is_dir()}
    return [p for p in PRESETS if p in folders]


def mapping_for(landing: Path, explicit: str | Path | None = None) -> Mapping | None:
    """The mapping a refresh of `landing` uses: `explicit` (or $ICP_MAPPING), else `<landing>/icp-mapping.yaml`,
    else the presets whose folders are present, else none (the files follow the contract)."""
    explicit = explicit or os.environ.get("ICP_MAPPING")
    if explicit:
        return load_mapping(explicit)
    if (landing / MAPPING_FILE).is_file():
        try:
            inside_landing(landing, landing / MAPPING_FILE)
        except LandingError as exc:
            raise MappingError(str(exc)) from None
        return load_mapping(landing / MAPPING_FILE)
    presets = detected_presets(landing)
    if presets:
        return _validate({"presets": presets, "entities": _merge(presets, {})}, f"presets {', '.join(presets)}")
    return None


def normalised(name: str) -> str:
    """A column name reduced for matching: lower case, letters and digits only (StageName ~ stage_name)."""
    return re.sub(r"[^a-z0-9]", "", name.strip().lower())
