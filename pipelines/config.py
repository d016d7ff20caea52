"""The project config file `icp.yaml`: value weights, label rules, model and scoring settings.

Every key has a documented default (see icp.yaml at the project root); unknown keys are errors, so a
typo never silently falls back to a default.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.alerts import webhook_url_problem
from pipelines.paths import PROJECT_ROOT


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValueWeights(_Strict):
    """Weights of the realised-value components (normalised to sum to 1). Each is measured per month of tenure or
    as a rate, so that a young excellent customer can be ideal (pipelines/icp/labels.py)."""

    # `lifetime_revenue`, its name before it was measured per month, is still accepted.
    revenue_per_month: float = Field(0.30, ge=0,
                                     validation_alias=AliasChoices("revenue_per_month", "lifetime_revenue"))
    current_arr: float = Field(0.25, ge=0)
    retention: float = Field(0.20, ge=0)
    expansion: float = Field(0.10, ge=0)
    payment_health: float = Field(0.10, ge=0)
    cost_to_serve: float = Field(0.05, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> "ValueWeights":
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one value weight must be positive")
        return self


class Labels(_Strict):
    """How customers are labelled ideal or bad fit."""

    ideal_share: float = Field(0.30, gt=0, lt=1, description="top share of value_index among seasoned customers")
    min_tenure_months: float = Field(3, ge=0, description="customers younger than this are not labelled ideal")
    early_churn_months: float = Field(6, ge=0, description="churn within this many months is a bad fit")
    max_tickets_per_1k_mrr: float = Field(3.0, gt=0, description="monthly tickets per 1,000 USD MRR above which support load is heavy")
    min_paid_share: float = Field(0.75, ge=0, le=1, description="a paid-invoice share below this is payment trouble")
    max_uncollectible: int = Field(0, ge=0, description="more uncollectible invoices than this is payment trouble")


PRE_SALE_ATTRIBUTES = ("industry", "employee_count", "annual_revenue", "region", "lead_source")


class Leakage(_Strict):
    """The leakage guard (pipelines/icp/leakage.py): attributes filled in after the sale are left out of the fit."""

    customers_max_missing: float = Field(0.1, ge=0, le=1, description="left out when missing for at most this "
                                         "share of customers ...")
    others_min_missing: float = Field(0.9, ge=0, le=1, description="... and for at least this share of the other "
                                      "accounts (lost and prospects)")
    force_in: list[str] = Field([], description="attributes the fit uses even when they look filled in after the sale")
    force_out: list[str] = Field([], description="attributes the fit never uses")

    @field_validator("force_in", "force_out")
    @classmethod
    def _known_attributes(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(PRE_SALE_ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown attribute(s) {', '.join(unknown)}; choose from {', '.join(PRE_SALE_ATTRIBUTES)}")
        return names


class Model(_Strict):
    """The fit model and its backtest."""

    min_customers: int = Field(30, ge=2, description="below this, score with the declared ICP instead of learning")
    min_backtest_positives: int = Field(5, ge=1)
    backtest_months: int = Field(12, ge=1, description="the backtest cutoff lies this many months before as_of")
    seed: int = 42
    regularisation: float = Field(1.0, gt=0, description="inverse L2 strength of the logistic fit (C)")
    size_bins: int = Field(6, ge=2, le=12, description="quantile bands for employee_count and annual_revenue")
    max_segment_depth: int = Field(3, ge=1, le=5)
    min_segment_share: float = Field(0.03, gt=0, lt=0.5, description="smallest segment, as a share of customers")
    chance_auc: float = Field(0.5, ge=0, lt=1, description="the backtest shows skill when the lower end of an "
                              "AUC's confidence interval is above this")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="confidence of the backtest's intervals and of "
                              "the segments' significance tests")
    segment_min_customers: int = Field(20, ge=1, description="an icp or anti_icp segment needs at least this many "
                                       "customers (icp) or closed deals (anti_icp)")
    max_fit_accounts: int = Field(300_000, ge=1_000, description="the fit learns from at most this many accounts "
                                  "with an outcome (customers and accounts with a decision): above it, from a "
                                  "deterministic sample stratified by outcome, so that its memory stays bounded")
    leakage: Leakage = Leakage()


class ScoreScaleConfig(_Strict):
    """Fixed anchors of the learned fit_score (a credit-scoring scale): the same odds give the same score in every
    refresh. The odds are the scorecard's: odds of winning the account times odds of it turning out ideal."""

    anchor_score: float = Field(50, ge=0, le=100, description="the score of an account at anchor_odds")
    anchor_odds: float = Field(0.01, gt=0, description="the scorecard's odds that score anchor_score")
    points_to_double_odds: float = Field(4, gt=0, description="points added each time the odds double")


class Scoring(_Strict):
    """Engagement, priority and tiers."""

    engagement_weight: float = Field(0.3, ge=0, le=1, description="priority_score = (1-w)*fit + w*engagement")
    engagement_half_life_days: float = Field(30, gt=0)
    engagement_window_days: int = Field(180, gt=0)
    tier_shares: list[float] = Field(
        [0.3, 0.3, 0.3],
        description="shares of customers' fit scores in tiers A, B and C; below them (the bottom 10% of customers "
                    "by default) is D",
    )
    winback: bool = Field(True, description="list churned accounts that fit the ICP as win-back targets")
    min_known_attributes: int = Field(2, ge=0, le=5, description="an account with fewer of industry, employee "
                                      "count, annual revenue, region and lead source known is insufficient_data")
    max_excluded_share: float = Field(0.5, gt=0, le=1, description="warn when anti-ICP segments, bad-fit rules "
                                      "and exclusions leave out more than this share of the prospects")
    scale: ScoreScaleConfig = ScoreScaleConfig()

    @model_validator(mode="after")
    def _three_tier_shares(self) -> "Scoring":
        if len(self.tier_shares) != 3 or any(s <= 0 for s in self.tier_shares) or sum(self.tier_shares) > 1:
            raise ValueError("tier_shares needs three positive shares (A, B, C) that add up to at most 1")
        return self


class DeclaredICP(_Strict):
    """The ICP as the company believes it to be; scored as transparent rules when data is thin."""

    industries: list[str] = []
    employee_count: tuple[int | None, int | None] | None = None
    regions: list[str] = []
    technologies: list[str] = []

    @property
    def is_empty(self) -> bool:
        return not (self.industries or self.employee_count or self.regions or self.technologies)


class Exclusions(_Strict):
    """Accounts never to put on the target list (competitors, partners)."""

    domains: list[str] = []
    account_names: list[str] = []


class Schedule(_Strict):
    cron: str = "0 2 * * *"
    timezone: str = "UTC"
    sensor_min_interval_seconds: int = Field(600, ge=30)
    lock_wait_seconds: float = Field(3600, ge=0, description="how long a run waits for a refresh of the same home "
                                                             "that is running, before it ends naming that refresh")


class Alerts(_Strict):
    webhook_url: str | None = None

    @field_validator("webhook_url")
    @classmethod
    def _http_only(cls, v: str | None) -> str | None:
        problem = v and webhook_url_problem(v)
        if problem:
            raise ValueError(problem)
        return v


ENGINES = ("duckdb", "spark")


class Spark(_Strict):
    """Spark, when it is the engine: its master and any other Spark configuration (pipelines/spark.py)."""

    master: str = Field("local[*]", description="local[*], spark://host:7077, yarn, ... (ICP_SPARK_MASTER wins)")
    conf: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_line_settings(self) -> "Spark":
        """Each setting is one line of spark-defaults.conf: a `spark.` key, a value without line breaks."""
        for key, value in [("master", self.master), *self.conf.items()]:
            if key != "master" and not re.fullmatch(r"spark\.[A-Za-z0-9_.\-]+", key):
                raise ValueError(f"conf key {key!r} is not a Spark setting (spark.<name>)")
            if "\n" in value or "\r" in value:
                raise ValueError(f"{key}: a line break in the value")
        return self


class Config(_Strict):
    """The whole of icp.yaml."""

    engine: str = Field("duckdb", description="duckdb or spark (`--engine` and ICP_ENGINE win)")

    value_weights: ValueWeights = ValueWeights()
    labels: Labels = Labels()
    model: Model = Model()
    scoring: Scoring = Scoring()
    declared_icp: DeclaredICP = DeclaredICP()
    exclude: Exclusions = Exclusions()
    schedule: Schedule = Schedule()
    alerts: Alerts = Alerts()
    spark: Spark = Spark()

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        if v not in ENGINES:
            raise ValueError(f"unknown engine {v!r}; choose one of {', '.join(ENGINES)}")
        return v


class ConfigError(ValueError):
    """icp.yaml is missing, malformed or has an invalid value."""


def config_path() -> Path:
    """ICP_CONFIG when set, else icp.yaml at the project root."""
    return Path(os.environ.get("ICP_CONFIG") or PROJECT_ROOT / "icp.yaml")


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate icp.yaml; a missing file means all defaults."""
    path = Path(path) if path else config_path()
    if not path.exists():
        if path != PROJECT_ROOT / "icp.yaml":
            raise ConfigError(f"config file {path} does not exist")
        return Config()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return Config.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc
