"""Great Expectations suites over what gets published (run on pandas batches of rows: GX has no DuckDB source)."""
from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

TIERS = ["A", "B", "C", "D"]


def suites(n_targets: int, segment_ids: list[str]) -> dict[str, list]:
    """Expectations per published table. Every one is about single rows, so that the tables can be validated in
    batches of rows at any size: what needs the whole table is computed by the engine into a column of each row
    (pipelines/quality.py: `expected_rank`, the rank's position among all ranks; `rows_of_account`, how many rows
    share the row's account_id)."""
    score = lambda col, mostly=1.0: gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0, max_value=100, mostly=mostly)  # noqa: E731
    one_row_per_account = lambda: gxe.ExpectColumnValuesToBeBetween(column="rows_of_account", min_value=1, max_value=1)  # noqa: E731
    return {
        "target_accounts": [
            gxe.ExpectColumnValuesToNotBeNull(column="rank"),
            # Dense, unique ranks 1..n: each rank equals its position among all ranks.
            gxe.ExpectColumnPairValuesToBeEqual(column_A="rank", column_B="expected_rank"),
            *([] if n_targets else [gxe.ExpectTableRowCountToEqual(value=0)]),
            one_row_per_account(),
            score("fit_score"), score("priority_score"), score("engagement_score"),
            gxe.ExpectColumnValuesToBeInSet(column="fit_tier", value_set=TIERS),
            gxe.ExpectColumnValuesToNotBeNull(column="reasons"),
            gxe.ExpectColumnValuesToBeInSet(column="segment_id", value_set=segment_ids),
            # No active customer on the target list (lifecycle joined from account_scores).
            gxe.ExpectColumnValuesToBeInSet(column="lifecycle", value_set=["prospect", "churned"]),
            gxe.ExpectColumnValuesToBeInSet(column="segment_kind", value_set=["icp", "neutral"]),
        ],
        "account_scores": [
            one_row_per_account(),
            gxe.ExpectColumnValuesToNotBeNull(column="fit_score"),
            score("fit_score"), score("value_index"),
            gxe.ExpectColumnValuesToBeInSet(column="fit_tier", value_set=TIERS),
            gxe.ExpectColumnValuesToBeInSet(column="lifecycle", value_set=["prospect", "customer", "churned"]),
            gxe.ExpectColumnValuesToBeInSet(column="segment_id", value_set=segment_ids),
            gxe.ExpectColumnValuesToBeNull(column="value_index", row_condition='lifecycle == "prospect"',
                                           condition_parser="pandas"),
        ],
        "icp_segments": [
            gxe.ExpectColumnValuesToBeUnique(column="segment_id"),  # a handful of rows: one batch
            gxe.ExpectColumnValuesToNotBeNull(column="segment_label"),
            gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["icp", "neutral", "anti_icp"]),
        ],
    }


def expectation_suite(name: str, expectations: list) -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name=name)
    for e in expectations:
        suite.add_expectation(e)
    return suite
