"""Great Expectations suites over what gets published (run on pandas frames: GX has no DuckDB source)."""
from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

TIERS = ["A", "B", "C", "D"]


def suites(n_targets: int, segment_ids: list[str]) -> dict[str, list]:
    """Expectations per published table; some depend on this refresh's counts (dense ranks, known segments)."""
    score = lambda col, mostly=1.0: gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0, max_value=100, mostly=mostly)  # noqa: E731
    return {
        "target_accounts": [
            gxe.ExpectColumnValuesToBeUnique(column="rank"),
            gxe.ExpectColumnValuesToNotBeNull(column="rank"),
            # Dense ranks 1..n (an empty list, e.g. when every account is a customer, has no min or max).
            *([gxe.ExpectColumnMinToBeBetween(column="rank", min_value=1, max_value=1),
               gxe.ExpectColumnMaxToBeBetween(column="rank", min_value=n_targets, max_value=n_targets)]
              if n_targets else [gxe.ExpectTableRowCountToEqual(value=0)]),
            gxe.ExpectColumnValuesToBeUnique(column="account_id"),
            score("fit_score"), score("priority_score"), score("engagement_score"),
            gxe.ExpectColumnValuesToBeInSet(column="fit_tier", value_set=TIERS),
            gxe.ExpectColumnValuesToNotBeNull(column="reasons"),
            gxe.ExpectColumnValuesToBeInSet(column="segment_id", value_set=segment_ids),
            # No active customer on the target list (lifecycle joined from account_scores).
            gxe.ExpectColumnValuesToBeInSet(column="lifecycle", value_set=["prospect", "churned"]),
            gxe.ExpectColumnValuesToBeInSet(column="segment_kind", value_set=["icp", "neutral"]),
        ],
        "account_scores": [
            gxe.ExpectColumnValuesToBeUnique(column="account_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="fit_score"),
            score("fit_score"), score("value_index"),
            gxe.ExpectColumnValuesToBeInSet(column="fit_tier", value_set=TIERS),
            gxe.ExpectColumnValuesToBeInSet(column="lifecycle", value_set=["prospect", "customer", "churned"]),
            gxe.ExpectColumnValuesToBeInSet(column="segment_id", value_set=segment_ids),
            gxe.ExpectColumnValuesToBeNull(column="value_index", row_condition='lifecycle == "prospect"',
                                           condition_parser="pandas"),
        ],
        "icp_segments": [
            gxe.ExpectColumnValuesToBeUnique(column="segment_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="segment_label"),
            gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["icp", "neutral", "anti_icp"]),
        ],
    }


def expectation_suite(name: str, expectations: list) -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name=name)
    for e in expectations:
        suite.add_expectation(e)
    return suite
