"""The fitted model as tables (schema `fit` of the build database), which dbt's scoring models read to score every
account in the engine (dbt/models/scoring).

fit.levels: every level of every scored attribute group, its test (as data: attributes.Level), its raw points in the
card and in each of the card's parts (for fit_probability), its fit points and its reason text. fit.model: one
row, the card's scale, intercepts and tier thresholds. fit.segments and fit.segment_rules: each segment's evidence
and its rule as conditions over the tree's inputs. fit.customer_labels: every customer's value labels. (fit.accounts,
the accounts the fit learned from, is written first: pipelines/icp/inputs.py.)
"""
from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from pipelines.icp.attributes import Level, attribute_levels
from pipelines.icp.inputs import FIT_SCHEMA
from pipelines.icp.scorecard import Scorecard, ScoreScale, level_points, scored_groups
from pipelines.icp.segments import Segments



def _write(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, select: str = "SELECT * FROM __frame"
           ) -> None:
    con.register("__frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {FIT_SCHEMA}.{table} AS {select}")
    finally:
        con.unregister("__frame")


def write_fitted(con: duckdb.DuckDBPyConnection, card: Scorecard, scale: ScoreScale, declared_size: Level | None,
                 segments: Segments, thresholds: list[float], labels: pd.DataFrame, scored_at: datetime) -> None:
    """Write the fit tables (see the module) for `card` on `scale`, the `segments`, the tier `thresholds` and the
    customers' value `labels` (indexed by account_id)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {FIT_SCHEMA}")
    parts = card.parts or (card,)
    size = declared_size if "declared_size" in scored_groups(card) else None
    levels = attribute_levels(card.encoding, size)
    rows = []
    for g_no, group in enumerate(scored_groups(card)):
        labels_of = [level.label for level in levels[group]]
        card_raws = level_points(card, group, labels_of)
        raws = [level_points(part, group, labels_of) for part in parts]
        for no, level in enumerate(levels[group]):
            raw = card_raws[no]
            rows.append({"grp": group, "grp_no": g_no, "level_no": no, "label": level.label, "test": level.test,
                         "column_name": level.column, "value": level.value, "low": level.low, "high": level.high,
                         "raw": raw, "points": raw * scale.factor, "raw_part1": raws[0][no],
                         "raw_part2": raws[1][no] if len(parts) > 1 else None})
    # The reason text of a level: its label and its points rounded by the engine, as the reasons' other figures.
    _write(con, "levels", pd.DataFrame(rows).astype(
        {"grp": "string", "label": "string", "test": "string", "column_name": "string", "value": "string",
         "low": float, "high": float, "raw_part2": float}), """
        SELECT *, CASE WHEN rounded <> 0 THEN label || ' (' || printf('%+d', rounded) || ')' END AS reason
        FROM (SELECT *, CAST(round(points) AS INTEGER) AS rounded FROM __frame)""")
    _write(con, "model", pd.DataFrame([{
        "model_version": card.version, "model_kind": card.kind, "scored_at": scored_at,
        "baseline": scale.baseline, "factor": scale.factor, "n_parts": len(parts),
        "intercept_part1": parts[0].intercept, "intercept_part2": parts[1].intercept if len(parts) > 1 else None,
        "tier_a": thresholds[0], "tier_b": thresholds[1], "tier_c": thresholds[2]}]).astype(
        {"intercept_part2": float}),
        "SELECT * REPLACE (CAST(scored_at AS TIMESTAMP) AS scored_at), CAST(round(baseline) AS INTEGER) AS base_points "
        "FROM __frame")
    seg = segments.table
    _write(con, "segments", seg.rename_axis("segment_key").reset_index()[
        ["segment_key", "rule_order", "segment_label", "kind", "p_value", "n_customers", "n_ideal", "ideal_rate",
         "lift", "win_rate", "avg_value_index", "churn_rate"]])
    conditions, codes = [], []
    for key, rule in segments.rules.items():
        conditions += [(key, i, column, op, threshold) for i, (column, op, threshold) in enumerate(rule.conditions)]
        used = {column for column, _, _ in rule.conditions}
        codes += [(key, column, level, code) for column, mapping in rule.codes.items() if column in used
                  for level, code in mapping.items()]
    _write(con, "segment_rules", pd.DataFrame(conditions, columns=["segment_key", "condition_no", "column_name", "op",
                                                                   "threshold"]).astype(
        {"segment_key": "int64", "condition_no": "int64", "column_name": "string", "op": "string", "threshold": float}))
    _write(con, "segment_codes", pd.DataFrame(codes, columns=["segment_key", "column_name", "level", "code"]
                                              ).astype({"segment_key": "int64", "column_name": "string",
                                                        "level": "string", "code": "int64"}))
    _write(con, "customer_labels", labels.rename_axis("account_id").reset_index()[
        ["account_id", "value_index", "is_ideal", "is_bad_fit", "bad_fit_reason"]],
        "SELECT * REPLACE (CAST(bad_fit_reason AS VARCHAR) AS bad_fit_reason) FROM __frame")
