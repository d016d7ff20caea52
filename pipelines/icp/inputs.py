"""What scoring reads first from account_features: the models' frame and the levels learned without labels."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from pipelines.icp.attributes import FEATURES, Encoding, learn_encoding
from pipelines.warehouse import frame

# What the models need in pandas, in account_id order (ids, names, domains, owners and technologies stay in DuckDB;
# the attribute levels come as integer codes, pipelines/icp/attributes.py).
FEATURE_COLUMNS = """industry, employee_count, annual_revenue, region, lead_source, lifecycle,
    customer_since, is_churned, tenure_months, months_to_churn,
    current_mrr, current_arr, mrr_12m_ago, lifetime_paid_revenue, expansion_revenue, expansion_won_amount,
    subscriptions, invoices, paid_share, uncollectible_invoices, tickets, tickets_per_month, won_deals, lost_deals,
    won_amount, first_won_date, last_closed_at, open_opportunities, engagement_points, as_of"""


@dataclass(frozen=True)
class ScoringInputs:
    features: pd.DataFrame  # FEATURE_COLUMNS, one row per account in account_id order
    encoding: Encoding  # learn_encoding's levels, before the supervised size bands


def read_inputs(con: duckdb.DuckDBPyConnection, size_bins: int) -> ScoringInputs:
    """The scoring inputs, read from account_features on `con`."""
    return ScoringInputs(frame(con, f"SELECT {FEATURE_COLUMNS} FROM {FEATURES} ORDER BY account_id"),
                         learn_encoding(con, size_bins))
