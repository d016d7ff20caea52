"""What the ICP fit reads from the build database: bounded frames of the accounts it learns from, never every account.

The fit learns from accounts with an outcome (customers, and accounts with a won or lost deal), at most
model.max_fit_accounts of them: above that, a deterministic sample stratified by outcome (the same share of each
kind, picked by a hash of the account id). Their ids are the table fit.accounts (with the held-out half that tests
the segments), from which the level codes and the state at the backtest's cutoff are read, by the fit and again by
the backtest after scoring. The customers' value
labels need every customer (ranks among them): `read_customers` reads only their value columns.
"""
from __future__ import annotations

import duckdb
import pandas as pd

from pipelines.icp.attributes import FEATURES
from pipelines.sql import q
from pipelines.warehouse import frame

STATE_AT_CUTOFF = "marts.account_state_at_cutoff"
REFERENCE_DATES = "intermediate.int_reference_date"
FIT_SCHEMA = "fit"  # the fitted model's tables (pipelines/icp/fitted.py)
FIT_ACCOUNTS = f"{FIT_SCHEMA}.accounts"

# What the models need in pandas (ids, names, domains, owners and technologies stay in DuckDB; the attribute levels
# come as integer codes, pipelines/icp/attributes.py): the pre-sale attributes, then the account's state
# (lifecycle, value, sales, engagement), which account_state_at_cutoff also has.
ATTRIBUTE_COLUMNS = ["industry", "employee_count", "annual_revenue", "region", "lead_source"]
STATE_COLUMNS = ["lifecycle", "customer_since", "is_churned", "tenure_months", "months_to_churn", "current_mrr",
                 "current_arr", "mrr_12m_ago", "lifetime_paid_revenue", "expansion_revenue", "expansion_won_amount",
                 "subscriptions", "invoices", "paid_share", "uncollectible_invoices", "tickets", "tickets_per_month",
                 "won_deals", "lost_deals", "won_amount", "first_won_date", "last_closed_at", "open_opportunities",
                 "engagement_points", "as_of"]
CUSTOMER = "lifecycle IN ('customer', 'churned')"
HAS_OUTCOME = f"({CUSTOMER} OR won_deals > 0 OR lost_deals > 0)"
OUTCOME_KIND = f"CASE WHEN {CUSTOMER} THEN 0 WHEN won_deals > 0 THEN 1 ELSE 2 END"


def held_out_sql(seed: int) -> str:
    """SQL: the account is in the held-out half that tests the segments (a hash of the seed and its id)."""
    return f"substr(md5({q(str(seed))} || ':' || account_id), 1, 1) < '8'"


def choose_fit_accounts(con: duckdb.DuckDBPyConnection, max_accounts: int, seed: int) -> int:
    """(Re)create fit.accounts: the accounts the fit learns from (see the module), with their held-out flag.
    Returns how many accounts have an outcome (the sample's population)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {FIT_SCHEMA}")
    con.execute(f"""
        CREATE OR REPLACE TABLE {FIT_ACCOUNTS} AS
        WITH outcome AS (
            SELECT account_id, {OUTCOME_KIND} AS kind, md5({q(str(seed))} || '#' || account_id) AS draw
            FROM {FEATURES} WHERE {HAS_OUTCOME}),
        drawn AS (
            SELECT account_id, kind, row_number() OVER (PARTITION BY kind ORDER BY draw, account_id) AS nth,
                   count(*) OVER (PARTITION BY kind) AS of_kind, count(*) OVER () AS total
            FROM outcome)
        SELECT account_id, {held_out_sql(seed)} AS held_out FROM drawn
        WHERE total <= {int(max_accounts)} OR nth <= round(of_kind * {int(max_accounts)} / total)
        ORDER BY account_id""")
    return con.execute(f"SELECT count(*) FROM {FEATURES} WHERE {HAS_OUTCOME}").fetchone()[0]


def read_fit_accounts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The fit's accounts (choose_fit_accounts) with their attributes, today's state and `held_out`, in account_id
    order."""
    columns = ", ".join(f"f.{c}" for c in ["account_id"] + ATTRIBUTE_COLUMNS + STATE_COLUMNS)
    return frame(con, f"SELECT {columns}, s.held_out FROM {FIT_ACCOUNTS} s JOIN {FEATURES} f USING (account_id) "
                      "ORDER BY account_id")


def read_customers(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every customer (and churned account) with the columns its value labels read, in account_id order."""
    columns = ["account_id", "lifecycle", "is_churned", "tenure_months", "months_to_churn", "current_mrr",
               "current_arr", "mrr_12m_ago", "lifetime_paid_revenue", "expansion_revenue", "expansion_won_amount",
               "subscriptions", "invoices", "paid_share", "uncollectible_invoices", "tickets", "tickets_per_month",
               "won_amount"]
    return frame(con, f"SELECT {', '.join(columns)} FROM {FEATURES} WHERE {CUSTOMER} ORDER BY account_id",
                 categories=["lifecycle"]).set_index("account_id")


def read_state_at_cutoff(con: duckdb.DuckDBPyConnection, accounts: pd.DataFrame) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The backtest's cutoff, and the fit's `accounts` (read_fit_accounts' frame, same order) with their pre-sale
    attributes (they have no history), their state at the cutoff (`as_of` the cutoff) and `existed` (false, the
    state missing, for an account created after the cutoff)."""
    cutoff = con.execute(f"SELECT as_of FROM {REFERENCE_DATES} WHERE snapshot = 'backtest_cutoff'").fetchone()[0]
    columns = ", ".join(f"c.{c}" for c in STATE_COLUMNS)
    state = frame(con, f"""SELECT {columns}, c.account_id IS NOT NULL AS existed
                           FROM {FIT_ACCOUNTS} f LEFT JOIN {STATE_AT_CUTOFF} c USING (account_id)
                           ORDER BY f.account_id""")
    kept = accounts[["account_id", *ATTRIBUTE_COLUMNS, "held_out"]]
    return pd.Timestamp(cutoff), pd.concat([kept, state.set_index(accounts.index)], axis=1)


def existed_at_cutoff() -> str:
    """SQL condition over account_features: the account existed at the backtest's cutoff."""
    return f"account_id IN (SELECT account_id FROM {STATE_AT_CUTOFF})"


def attribute_population(at_cutoff: bool) -> str:
    """SQL relation for the leakage guard: every account (that existed at the cutoff, with its state then) with its
    pre-sale attributes, `is_customer` and `is_lost` (a lost deal, never won)."""
    state = STATE_AT_CUTOFF if at_cutoff else FEATURES
    attributes = ", ".join(f"f.{c}" for c in ATTRIBUTE_COLUMNS)
    return f"""(SELECT {attributes}, s.lifecycle IN ('customer', 'churned') AS is_customer,
                       NOT (s.lifecycle IN ('customer', 'churned')) AND coalesce(s.lost_deals, 0) > 0 AS is_lost
                FROM {FEATURES} f JOIN {state} s USING (account_id))"""
