"""What scoring reads first from account_features: the models' frame and the levels learned without labels; and
for the backtest, every account as it stood at the cutoff (dbt's account_state_at_cutoff)."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from pipelines.icp.attributes import FEATURES, Encoding, learn_encoding
from pipelines.warehouse import frame

STATE_AT_CUTOFF = "marts.account_state_at_cutoff"
REFERENCE_DATES = "intermediate.int_reference_date"

# What the models need in pandas, in account_id order (ids, names, domains, owners and technologies stay in DuckDB;
# the attribute levels come as integer codes, pipelines/icp/attributes.py): the pre-sale attributes, then the
# account's state (lifecycle, value, sales, engagement), which account_state_at_cutoff also has.
ATTRIBUTE_COLUMNS = ["industry", "employee_count", "annual_revenue", "region", "lead_source"]
STATE_COLUMNS = ["lifecycle", "customer_since", "is_churned", "tenure_months", "months_to_churn", "current_mrr",
                 "current_arr", "mrr_12m_ago", "lifetime_paid_revenue", "expansion_revenue", "expansion_won_amount",
                 "subscriptions", "invoices", "paid_share", "uncollectible_invoices", "tickets", "tickets_per_month",
                 "won_deals", "lost_deals", "won_amount", "first_won_date", "last_closed_at", "open_opportunities",
                 "engagement_points", "as_of"]


@dataclass(frozen=True)
class ScoringInputs:
    features: pd.DataFrame  # ATTRIBUTE_COLUMNS and STATE_COLUMNS, one row per account in account_id order
    encoding: Encoding  # learn_encoding's levels, before the supervised size bands


def read_inputs(con: duckdb.DuckDBPyConnection, size_bins: int) -> ScoringInputs:
    """The scoring inputs, read from account_features on `con`."""
    columns = ", ".join(ATTRIBUTE_COLUMNS + STATE_COLUMNS)
    return ScoringInputs(frame(con, f"SELECT {columns} FROM {FEATURES} ORDER BY account_id"),
                         learn_encoding(con, size_bins))


def read_state_at_cutoff(con: duckdb.DuckDBPyConnection, features: pd.DataFrame) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The backtest's cutoff, and every account (account_id order, like read_inputs' `features`) with its pre-sale
    attributes (taken from `features`: they have no history) and its state at the cutoff: the columns of
    read_inputs, `as_of` the cutoff, and `existed` (false, the state missing, for an account created after the
    cutoff)."""
    cutoff = con.execute(f"SELECT as_of FROM {REFERENCE_DATES} WHERE snapshot = 'backtest_cutoff'").fetchone()[0]
    columns = ", ".join(f"c.{c}" for c in STATE_COLUMNS)
    state = frame(con, f"""SELECT {columns}, c.account_id IS NOT NULL AS existed
                           FROM {FEATURES} f LEFT JOIN {STATE_AT_CUTOFF} c USING (account_id) ORDER BY f.account_id""")
    return pd.Timestamp(cutoff), pd.concat([features[ATTRIBUTE_COLUMNS], state.set_index(features.index)], axis=1)


def existed_at_cutoff() -> str:
    """SQL condition over account_features: the account existed at the backtest's cutoff."""
    return f"account_id IN (SELECT account_id FROM {STATE_AT_CUTOFF})"
