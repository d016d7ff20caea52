"""Demo landing data with a planted ICP, generated vectorised (numpy for numbers, DuckDB for text and files).

The planted truth, written outside the landing folder, says which accounts belong to the ICP:
  icp      industry in (Logistics, Manufacturing) and 200 <= employee_count < 2000
  anti_icp industry in (Education, Non-profit) or employee_count < 10
  neutral  everything else
ICP accounts win more deals, pay more, expand, churn less and need less support; anti-ICP accounts
rarely buy and, when they do, churn early, pay late and file many tickets.

The realistic mode (`realistic=True`) is harder, as real CRM data is: two ICPs (planted_icp 1: industry in
(Logistics, Manufacturing) and uses Snowflake; 2: region EMEA and 200 <= employee_count < 2000) that buy only
somewhat more often but pay several times more and churn less, so that most buyers are ordinary accounts; a
decoy lead source (paid_search) that buys often and churns fast; and missing industry, size, revenue and lead
source on some accounts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.sql import q

AS_OF = date(2026, 10, 31)

INDUSTRIES = ["Software", "Logistics", "Manufacturing", "Financial Services", "Healthcare", "Retail",
              "Education", "Non-profit", "Media", "Construction", "Energy", "Professional Services"]
INDUSTRY_WEIGHTS = [0.14, 0.12, 0.12, 0.09, 0.08, 0.09, 0.07, 0.05, 0.06, 0.06, 0.05, 0.07]
ICP_INDUSTRIES = {"Logistics", "Manufacturing"}
ANTI_INDUSTRIES = {"Education", "Non-profit"}

# (country as exported, region); some countries appear as English names, as the contract allows.
COUNTRIES = [("US", "NA"), ("United States", "NA"), ("CA", "NA"), ("GB", "EMEA"), ("DE", "EMEA"),
             ("Germany", "EMEA"), ("FR", "EMEA"), ("NL", "EMEA"), ("SE", "EMEA"), ("ES", "EMEA"),
             ("AU", "APAC"), ("JP", "APAC"), ("SG", "APAC"), ("IN", "APAC"), ("BR", "LATAM"), ("MX", "LATAM")]
COUNTRY_WEIGHTS = [0.26, 0.06, 0.06, 0.09, 0.07, 0.02, 0.05, 0.04, 0.03, 0.03, 0.06, 0.04, 0.03, 0.06, 0.03, 0.07]
CURRENCY_BY_REGION = {"NA": "USD", "EMEA": "EUR", "APAC": "USD", "LATAM": "USD"}
FX_RATES = {"EUR": 1.08, "GBP": 1.27, "CAD": 0.73, "AUD": 0.66, "JPY": 0.0067}

TECHNOLOGIES = ["Salesforce", "HubSpot", "Snowflake", "AWS", "Azure", "GCP", "Slack", "Zendesk",
                "Shopify", "SAP", "Tableau", "Databricks"]
TECH_BASE_RATE = np.array([0.35, 0.30, 0.15, 0.45, 0.25, 0.15, 0.55, 0.20, 0.10, 0.10, 0.15, 0.08])
LEAD_SOURCES = ["inbound", "outbound", "referral", "partner", "event", "paid_search", "content"]
OWNERS = ["Avery Chen", "Jordan Patel", "Sam Okafor", "Riley Novak", "Morgan Silva", "Casey Dubois",
          "Taylor Kim", "Jamie Rossi"]
NAME_A = ["Blue", "North", "Silver", "Bright", "Iron", "Summit", "Cedar", "Harbor", "Prime", "Apex",
          "Granite", "Swift", "Lumen", "Atlas", "Nova", "Pioneer", "Crest", "Vertex", "Orbit", "Maple"]
NAME_B = ["River", "Peak", "Field", "Stone", "Bridge", "Wave", "Forge", "Point", "Grove", "Line",
          "Works", "Labs", "Path", "Gate", "Hub", "Cloud", "Rock", "Star", "Port", "Way"]
NAME_C = ["Inc", "LLC", "Group", "Systems", "Partners", "Co", "GmbH", "Ltd"]
TITLES = ["CEO", "CTO", "VP Operations", "VP Sales", "Head of Data", "Director of IT", "IT Manager",
          "Operations Manager", "Data Analyst", "Software Engineer", "Procurement Specialist", "CFO"]
ACTIVITY_TYPES = ["email", "call", "meeting", "web_visit", "content", "event", "other"]
ACTIVITY_WEIGHTS = [0.32, 0.12, 0.08, 0.28, 0.12, 0.04, 0.04]
SEGMENTS = np.array(["neutral", "icp", "anti_icp"])


@dataclass(frozen=True)
class DemoSummary:
    """What `generate` wrote: row counts per entity and where the truth lies."""

    landing: Path
    truth: Path
    rows: dict[str, int]


def _days(rng: np.random.Generator, low: np.ndarray | int, high: np.ndarray | int, size: int) -> np.ndarray:
    return rng.integers(np.asarray(low), np.asarray(high) + 1, size=size)


def _ts(days_before_as_of: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Timestamps (second resolution) that many days before AS_OF, at a random time of day."""
    base = np.datetime64(AS_OF, "s")
    secs = rng.integers(8 * 3600, 18 * 3600, size=len(days_before_as_of))
    return base - days_before_as_of.astype("timedelta64[D]").astype("timedelta64[s]") + secs.astype("timedelta64[s]")


def _by_segment(segment: np.ndarray, neutral: float, icp: float, anti: float) -> np.ndarray:
    return np.choose(segment, [neutral, icp, anti])


@dataclass(frozen=True)
class Effects:
    """How much the planted segments differ: (neutral, icp, anti_icp) per behaviour."""

    amount: tuple[float, float, float] = (1.0, 1.8, 0.5)        # deal size factor
    churn: tuple[float, float, float] = (0.025, 0.006, 0.12)    # churn rate per month
    expansion: tuple[float, float, float] = (0.15, 0.55, 0.03)  # chance to expand
    activity: tuple[float, float, float] = (2.0, 4.5, 1.2)      # activities per account
    win: tuple[float, float, float] | None = None  # flat win chance; None: graded by industry and size
    decoy: str | None = None  # a lead source that wins 2.5 times as often and churns 5 times as fast
    missing: float = 0.0      # share of accounts missing each of industry, size, revenue and lead source


DEFAULT = Effects()
REALISTIC = Effects(amount=(1.0, 3.0, 0.6), churn=(0.03, 0.008, 0.1), expansion=(0.12, 0.5, 0.03),
                    activity=(2.0, 2.6, 1.5), win=(0.12, 0.2, 0.05), decoy="paid_search", missing=0.12)
DECOY_SHARE = 0.15  # accounts that come from the decoy lead source


def _win_chance(acc: dict[str, np.ndarray], idx: np.ndarray, fx: Effects) -> np.ndarray:
    """Chance that a new-business deal is won: high in the ICP, graded for partial fits, low for anti-ICP."""
    if fx.win is not None:
        decoy = acc["lead_source"][idx] == LEAD_SOURCES.index(fx.decoy)
        return _by_segment(acc["segment"][idx], *fx.win) * np.where(decoy, 2.5, 1.0)
    names = np.array(INDUSTRIES)[acc["industry"][idx]]
    emp = acc["employees"][idx]
    right_industry = np.isin(names, list(ICP_INDUSTRIES))
    right_size = (emp >= 200) & (emp < 2000)
    near_size = (emp >= 50) & (emp < 5000)
    chance = np.where(right_industry, np.where(near_size, 0.16, 0.07), np.where(right_size, 0.12, 0.05))
    chance = np.where(acc["techs"][idx, TECHNOLOGIES.index("Snowflake")], chance * 1.3, chance)
    return np.choose(acc["segment"][idx], [chance, 0.62, 0.02])


def _accounts(rng: np.random.Generator, n: int, fx: Effects) -> dict[str, np.ndarray]:
    industry = rng.choice(len(INDUSTRIES), size=n, p=np.array(INDUSTRY_WEIGHTS) / sum(INDUSTRY_WEIGHTS))
    employees = np.clip(np.round(np.exp(rng.normal(5.0, 1.7, size=n))), 1, 200_000).astype(np.int64)
    names = np.array(INDUSTRIES)
    is_icp_industry = np.isin(names[industry], list(ICP_INDUSTRIES))
    is_anti = np.isin(names[industry], list(ANTI_INDUSTRIES)) | (employees < 10)
    right_size = (employees >= 200) & (employees < 2000)
    is_icp = is_icp_industry & right_size & ~is_anti
    segment = np.where(is_icp, 1, np.where(is_anti, 2, 0))
    tech_p = np.tile(TECH_BASE_RATE, (n, 1))
    tech_p[:, TECHNOLOGIES.index("Snowflake")] = _by_segment(segment, 0.15, 0.55, 0.05)
    tech_p[:, TECHNOLOGIES.index("SAP")] = np.where(is_icp_industry, 0.35, 0.08)
    acc = {
        "segment": segment,
        "icp": np.where(is_icp, 1, 0),
        "industry": industry,
        "employees": employees,
        "revenue": np.round(employees * rng.lognormal(np.log(180_000), 0.5, size=n), -3),
        "country": rng.choice(len(COUNTRIES), size=n, p=np.array(COUNTRY_WEIGHTS) / sum(COUNTRY_WEIGHTS)),
        "techs": rng.random((n, len(TECHNOLOGIES))) < tech_p,
        "lead_source": np.where(
            rng.random(n) < _by_segment(segment, 0.15, 0.35, 0.05),
            rng.choice([2, 3], size=n),  # referral / partner
            rng.choice(len(LEAD_SOURCES), size=n),
        ),
        "created_days": _days(rng, 7, 5 * 365, n),
    }
    return _two_icps(rng, acc, is_icp_industry, right_size) if fx.win is not None else acc


def _two_icps(rng: np.random.Generator, acc: dict[str, np.ndarray], icp_industry: np.ndarray,
              right_size: np.ndarray) -> dict[str, np.ndarray]:
    """The realistic mode's segments: ICP 1 by industry and Snowflake, ICP 2 by region and size; technologies
    and lead sources drawn without regard to them, a share of accounts from the decoy lead source."""
    n = len(right_size)
    rates = TECH_BASE_RATE.copy()
    rates[TECHNOLOGIES.index("Snowflake")] = 0.35
    techs = rng.random((n, len(TECHNOLOGIES))) < rates
    emea = np.array([r == "EMEA" for _, r in COUNTRIES])[acc["country"]]
    snowflake = techs[:, TECHNOLOGIES.index("Snowflake")]
    first, second = icp_industry & snowflake, emea & right_size
    anti = (acc["segment"] == 2) & ~first & ~second
    lead = rng.choice(len(LEAD_SOURCES), size=n)
    lead = np.where(rng.random(n) < DECOY_SHARE, LEAD_SOURCES.index(REALISTIC.decoy), lead)
    return acc | {"segment": np.where(first | second, 1, np.where(anti, 2, 0)),
                  "icp": np.where(first, 1, np.where(second, 2, 0)), "techs": techs, "lead_source": lead}


def generate(landing: str | Path, accounts: int = 5000, seed: int = 7, fmt: str = "csv",
             truth: str | Path | None = None, realistic: bool = False) -> DemoSummary:
    """Write a landing folder that follows the landing contract, and the planted ICP truth beside it
    (`realistic`: the harder mode of the module's docstring)."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {fmt!r}")
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    landing = Path(landing)
    truth_path = Path(truth) if truth else landing.parent / f"{landing.name}_truth.csv"
    rng = np.random.default_rng(seed)
    n = accounts
    fx = REALISTIC if realistic else DEFAULT
    acc = _accounts(rng, n, fx)
    seg = acc["segment"]
    decoy = acc["lead_source"] == LEAD_SOURCES.index(fx.decoy) if fx.decoy else np.zeros(n, bool)
    acc_idx = np.arange(n)
    region = np.array([r for _, r in COUNTRIES])[acc["country"]]
    currency = np.array([CURRENCY_BY_REGION[r] for r in region])
    currency = np.where(np.array([c for c, _ in COUNTRIES])[acc["country"]] == "GB", "GBP", currency)

    # --- New-business opportunities: most accounts get one; win chance depends on fit. -------------
    has_opp = rng.random(n) < _by_segment(seg, 0.62, 0.8, 0.55)
    o_acc = acc_idx[has_opp]
    o_seg = seg[o_acc]
    o_created = np.clip(acc["created_days"][o_acc] - _days(rng, 0, 60, len(o_acc)), 1, None)
    cycle = np.round(rng.gamma(3.0, _by_segment(o_seg, 30, 20, 40))).astype(np.int64) + 7
    o_close = o_created - cycle  # days before as_of; <= 0 means still open
    o_open = o_close <= 0
    o_won = ~o_open & (rng.random(len(o_acc)) < _win_chance(acc, o_acc, fx))
    size_factor = np.sqrt(acc["employees"][o_acc] / 100.0)
    o_amount = np.round(rng.lognormal(np.log(8000), 0.4, len(o_acc)) * np.clip(size_factor, 0.3, 8)
                        * _by_segment(o_seg, *fx.amount), -2)

    # --- Subscriptions for won deals; churn and expansion depend on fit. ----------------------------
    w = np.flatnonzero(o_won)
    s_acc = o_acc[w]
    s_seg = seg[s_acc]
    s_start = o_close[w]
    mrr = np.round(o_amount[w] / 12 * rng.lognormal(0, 0.2, len(w)), 2)
    months_alive = rng.exponential(1 / (_by_segment(s_seg, *fx.churn) * np.where(decoy[s_acc], 5.0, 1.0)))
    s_end = s_start - np.round(months_alive * 30.4).astype(np.int64)
    s_churned = s_end > 0
    s_end = np.where(s_churned, s_end, 0)
    # Expansion: a second subscription some months in, for accounts that stayed long enough.
    expands = (rng.random(len(w)) < _by_segment(s_seg, *fx.expansion)) & (s_start > 150)
    e_start = s_start - _days(rng, 90, 360, len(w))
    expands &= (e_start > np.where(s_churned, s_end, 0) + 30)
    x = np.flatnonzero(expands)
    sub_acc = np.concatenate([s_acc, s_acc[x]])
    sub_start = np.concatenate([s_start, e_start[x]])
    sub_end = np.concatenate([s_end, s_end[x]])
    sub_mrr = np.concatenate([mrr, np.round(mrr[x] * rng.uniform(0.3, 0.8, len(x)), 2)])
    sub_plan = np.concatenate([np.where(mrr > 1500, "enterprise", np.where(mrr > 400, "pro", "starter")),
                               np.full(len(x), "add-on")])
    sub_currency = currency[sub_acc]
    sub_mrr_local = np.round(sub_mrr / np.vectorize(lambda c: FX_RATES.get(c, 1.0))(sub_currency), 2) \
        if len(sub_acc) else sub_mrr

    # --- Quarterly invoices over each subscription's life. ------------------------------------------
    life_q = np.maximum(1, (sub_start - sub_end) // 91)
    inv_sub = np.repeat(np.arange(len(sub_acc)), life_q)
    inv_k = np.arange(len(inv_sub)) - np.repeat(np.cumsum(life_q) - life_q, life_q)
    inv_issued = sub_start[inv_sub] - inv_k * 91
    inv_seg = seg[sub_acc[inv_sub]]
    r = rng.random(len(inv_sub))
    late_p = _by_segment(inv_seg, 0.06, 0.02, 0.25)
    inv_status = np.where(r < late_p * 0.4, "uncollectible", np.where(r < late_p, "open", "paid"))
    inv_status = np.where((inv_status == "uncollectible") & (inv_issued < 60), "open", inv_status)
    inv_days_to_pay = np.round(rng.gamma(2.0, _by_segment(inv_seg, 9, 6, 20))).astype(np.int64)
    inv_paid = np.where(inv_status == "paid", np.maximum(inv_issued - inv_days_to_pay, 0), -1)

    # --- Support tickets for customers, by tenure; anti-ICP needs far more help. --------------------
    tenure_m = (sub_start[: len(w)] - s_end) / 30.4
    t_rate = _by_segment(s_seg, 0.5, 0.25, 1.8)
    t_n = rng.poisson(t_rate * np.maximum(tenure_m, 0.5))
    t_acc = np.repeat(s_acc, t_n)
    t_seg = seg[t_acc]
    t_created = (np.repeat(s_end, t_n) + (rng.random(len(t_acc)) * np.repeat(s_start - s_end, t_n))).astype(np.int64)
    t_created_at = _ts(t_created, rng)
    t_solve_h = rng.gamma(1.5, _by_segment(t_seg, 14, 8, 30))
    t_priority = np.where(rng.random(len(t_acc)) < _by_segment(t_seg, 0.08, 0.04, 0.25), 3,
                          rng.choice(3, len(t_acc), p=[0.35, 0.5, 0.15]))
    t_csat = np.clip(np.round(rng.normal(_by_segment(t_seg, 4.0, 4.5, 2.8), 0.8)), 1, 5).astype(np.int64)

    # --- Activities: recent engagement, higher for ICP accounts and open deals. ---------------------
    a_rate = _by_segment(seg, *fx.activity) + np.isin(acc_idx, o_acc[o_open]) * 3.0
    a_n = rng.poisson(a_rate)
    a_acc = np.repeat(acc_idx, a_n)
    a_days = np.minimum(_days(rng, 0, 200, len(a_acc)), acc["created_days"][a_acc])
    a_type = rng.choice(len(ACTIVITY_TYPES), len(a_acc), p=ACTIVITY_WEIGHTS)

    # --- Contacts. ----------------------------------------------------------------------------------
    c_n = rng.integers(0, 4, n)
    c_acc = np.repeat(acc_idx, c_n)
    c_title = rng.choice(len(TITLES), len(c_acc))
    c_days = np.maximum(acc["created_days"][c_acc] - _days(rng, 0, 90, len(c_acc)), 0)

    # --- Expansion / renewal opportunities for expanding customers. ---------------------------------
    xo_acc = s_acc[x]
    xo_close = e_start[x]
    opp_acc = np.concatenate([o_acc, xo_acc])
    opp_created = np.concatenate([o_created, xo_close + _days(rng, 20, 60, len(x))])
    opp_close = np.concatenate([o_close, xo_close])
    opp_open = np.concatenate([o_open, np.zeros(len(x), bool)])
    opp_won = np.concatenate([o_won, np.ones(len(x), bool)])
    opp_amount = np.concatenate([o_amount, np.round(sub_mrr[len(w):] * 12, -1)])
    opp_type = np.concatenate([np.full(len(o_acc), "new_business"), np.full(len(x), "expansion")])
    open_stage = np.array(["Prospecting", "Qualification", "Proposal", "Negotiation"])[rng.integers(0, 4, len(opp_acc))]
    opp_stage = np.where(opp_open, open_stage, np.where(opp_won, "Closed Won", "Closed Lost"))
    opp_lead = acc["lead_source"][opp_acc]

    truth = pa.table({"account_id": _ids("ACC", acc_idx), "planted_segment": SEGMENTS[seg],
                      "planted_icp": acc["icp"], "industry": np.array(INDUSTRIES)[acc["industry"]],
                      "employee_count": acc["employees"]})
    # Bits 0..3: industry, employee count, annual revenue and lead source left blank.
    blanks = ((rng.random((n, 4)) < fx.missing) * (1 << np.arange(4))).sum(axis=1) if fx.missing else np.zeros(n, int)

    tables = {
        "crm/accounts": pa.table({
            "account_idx": acc_idx, "industry_idx": acc["industry"], "employee_count": acc["employees"],
            "annual_revenue": acc["revenue"], "country_idx": acc["country"],
            "region_blank": rng.random(n) < 0.3,
            "founded_year": (AS_OF.year - rng.integers(1, 60, n)).astype(np.int64),
            "tech_mask": (acc["techs"] * (1 << np.arange(len(TECHNOLOGIES)))).sum(axis=1).astype(np.int64),
            "blanks": blanks.astype(np.int64),
            "lead_idx": acc["lead_source"], "owner_idx": rng.integers(0, len(OWNERS), n),
            "parent_idx": np.where(rng.random(n) < 0.02, rng.integers(0, n, n), -1),
            "created_at": _ts(acc["created_days"], rng),
            "name_a": rng.integers(0, len(NAME_A), n), "name_b": rng.integers(0, len(NAME_B), n),
            "name_c": rng.integers(0, len(NAME_C), n),
        }),
        "crm/contacts": pa.table({"account_idx": c_acc, "title_idx": c_title, "created_at": _ts(c_days, rng)}),
        "crm/opportunities": pa.table({
            "account_idx": opp_acc, "created_at": _ts(opp_created, rng), "stage": opp_stage,
            "close_date": np.datetime64(AS_OF, "D") - np.abs(opp_close).astype("timedelta64[D]") * np.where(opp_close > 0, 1, -1),
            "amount": opp_amount, "currency": currency[opp_acc], "opportunity_type": opp_type,
            "lead_idx": opp_lead,
        }),
        "crm/activities": pa.table({"account_idx": a_acc, "occurred_at": _ts(a_days, rng), "type_idx": a_type}),
        "billing/subscriptions": pa.table({
            "account_idx": sub_acc, "started_at": _ts(sub_start, rng), "mrr": sub_mrr_local,
            "ended_at": _ts(sub_end, rng), "has_end": sub_end > 0, "currency": sub_currency, "plan": sub_plan,
        }),
        "billing/invoices": pa.table({
            "account_idx": sub_acc[inv_sub], "issued_at": _ts(inv_issued, rng),
            "amount": np.round(sub_mrr_local[inv_sub] * 3, 2), "status": inv_status,
            "currency": sub_currency[inv_sub], "due_at": _ts(inv_issued - 30, rng),
            "paid_at": _ts(np.maximum(inv_paid, 0), rng), "is_paid": inv_paid >= 0,
        }),
        "support/tickets": pa.table({
            "account_idx": t_acc, "created_at": t_created_at,
            "solved_at": t_created_at + (t_solve_h * 3600).astype("timedelta64[s]"),
            "solved": (rng.random(len(t_acc)) < 0.93) | (t_created > 30),
            "priority_idx": t_priority, "csat": np.where(rng.random(len(t_acc)) < 0.6, t_csat, -1),
            "channel_idx": rng.integers(0, 3, len(t_acc)),
        }),
        "reference/fx_rates": pa.table({"currency": list(FX_RATES), "rate_to_usd": list(FX_RATES.values())}),
    }
    rows = _write(landing, tables, fmt)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.register("truth", truth)
        con.execute(f"COPY truth TO {q(str(truth_path))} (HEADER)")
    return DemoSummary(landing=landing, truth=truth_path, rows=rows)


def _ids(prefix: str, idx: np.ndarray) -> np.ndarray:
    return np.char.add(f"{prefix}-", np.char.zfill(idx.astype(str), 7))


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(q(v) for v in values) + "]"


# One SELECT per entity turns the numeric arrays into the contract's text columns.
_SELECTS = {
    "crm/accounts": f"""
        SELECT printf('ACC-%07d', account_idx) AS account_id,
               {_sql_list(NAME_A)}[name_a + 1] || ' ' || {_sql_list(NAME_B)}[name_b + 1] || ' '
                   || {_sql_list(NAME_C)}[name_c + 1] AS account_name,
               created_at,
               CASE WHEN account_idx % 5 = 0 THEN 'https://www.' ELSE '' END
                   || lower({_sql_list(NAME_A)}[name_a + 1] || {_sql_list(NAME_B)}[name_b + 1]) || account_idx || '.com' AS domain,
               CASE WHEN blanks & 1 = 0 THEN {_sql_list(INDUSTRIES)}[industry_idx + 1] END AS industry,
               CASE WHEN blanks & 2 = 0 THEN employee_count END AS employee_count,
               CASE WHEN blanks & 4 = 0 THEN annual_revenue END AS annual_revenue,
               {_sql_list([c for c, _ in COUNTRIES])}[country_idx + 1] AS country,
               CASE WHEN region_blank THEN NULL ELSE {_sql_list([r for _, r in COUNTRIES])}[country_idx + 1] END AS region,
               founded_year,
               array_to_string(list_filter({_sql_list(TECHNOLOGIES)},
                   (t, i) -> (tech_mask >> (i - 1)) & 1 = 1), ';') AS technologies,
               CASE WHEN blanks & 8 = 0 THEN {_sql_list(LEAD_SOURCES)}[lead_idx + 1] END AS lead_source,
               {_sql_list(OWNERS)}[owner_idx + 1] AS owner,
               CASE WHEN parent_idx >= 0 AND parent_idx <> account_idx THEN printf('ACC-%07d', parent_idx) END AS parent_account_id
        FROM src ORDER BY account_idx""",
    "crm/contacts": f"""
        SELECT printf('CON-%08d', row_number() OVER ()) AS contact_id, printf('ACC-%07d', account_idx) AS account_id,
               created_at, {_sql_list(TITLES)}[title_idx + 1] AS title,
               lower(split_part({_sql_list(TITLES)}[title_idx + 1], ' ', 1)) || row_number() OVER () || '@example.com' AS email
        FROM src""",
    "crm/opportunities": f"""
        SELECT printf('OPP-%08d', row_number() OVER ()) AS opportunity_id, printf('ACC-%07d', account_idx) AS account_id,
               created_at, stage, close_date, amount,
               CASE WHEN currency = 'USD' AND row_number() OVER () % 3 = 0 THEN NULL ELSE currency END AS currency,
               opportunity_type, {_sql_list(LEAD_SOURCES)}[lead_idx + 1] AS lead_source
        FROM src""",
    "crm/activities": f"""
        SELECT printf('ACT-%09d', row_number() OVER ()) AS activity_id, printf('ACC-%07d', account_idx) AS account_id,
               occurred_at, {_sql_list(ACTIVITY_TYPES)}[type_idx + 1] AS activity_type
        FROM src""",
    "billing/subscriptions": """
        SELECT printf('SUB-%08d', row_number() OVER ()) AS subscription_id, printf('ACC-%07d', account_idx) AS account_id,
               started_at, mrr, CASE WHEN has_end THEN ended_at END AS ended_at, currency, plan,
               CASE WHEN has_end THEN 'canceled' ELSE 'active' END AS status
        FROM src""",
    "billing/invoices": """
        SELECT printf('INV-%09d', row_number() OVER ()) AS invoice_id, printf('ACC-%07d', account_idx) AS account_id,
               issued_at, amount, status, currency, due_at, CASE WHEN is_paid THEN paid_at END AS paid_at
        FROM src""",
    "support/tickets": """
        SELECT printf('TKT-%08d', row_number() OVER ()) AS ticket_id, printf('ACC-%07d', account_idx) AS account_id,
               created_at, CASE WHEN solved THEN solved_at END AS solved_at,
               ['low', 'normal', 'high', 'urgent'][priority_idx + 1] AS priority,
               ['email', 'chat', 'phone'][channel_idx + 1] AS channel,
               CASE WHEN csat > 0 THEN csat END AS csat,
               CASE WHEN solved THEN 'solved' ELSE 'open' END AS status
        FROM src""",
    "reference/fx_rates": "SELECT * FROM src",
}


def _write(landing: Path, tables: dict[str, pa.Table], fmt: str) -> dict[str, int]:
    rows: dict[str, int] = {}
    with duckdb.connect() as con:
        con.execute("SET preserve_insertion_order = true")
        for entity, table in tables.items():
            path = landing / f"{entity}.{fmt}"
            path.parent.mkdir(parents=True, exist_ok=True)
            con.register("src", table)
            options = "(FORMAT parquet)" if fmt == "parquet" else "(HEADER, DELIMITER ',')"
            con.execute(f"COPY ({_SELECTS[entity]}) TO {q(str(path))} {options}")
            con.unregister("src")
            rows[entity] = table.num_rows
    return rows
