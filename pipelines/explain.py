"""Explain one account's score from a publication: its fit score rebuilt from the published scorecard
(baseline + one contribution per attribute), with tier, segment, engagement and priority."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from pipelines.sql import ident


class UnknownAccount(LookupError):
    """No account with that id; carries the closest matches by name or id."""

    def __init__(self, account_id: str, closest: list[tuple[str, str]]):
        self.account_id, self.closest = account_id, closest
        hint = "; ".join(f"{i} ({name})" for i, name in closest)
        super().__init__(f"no account {account_id!r} in the publication" + (f"; closest: {hint}" if hint else ""))


@dataclass
class Contribution:
    attribute: str
    level: str
    points: float


@dataclass
class Explanation:
    account_id: str
    account_name: str
    lifecycle: str
    fit_score: float
    fit_tier: str
    segment: str
    segment_kind: str
    engagement_score: float
    priority_score: float
    rank: int | None
    baseline: float
    reasons: str
    model_version: str
    score_status: str
    status_reason: str | None
    contributions: list[Contribution] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def explain(db: Path, account_id: str) -> Explanation:
    """The explanation of `account_id` in the publication `db` (serving/icp.duckdb); UnknownAccount if absent."""
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("""
            SELECT s.account_id, s.account_name, s.lifecycle, s.fit_score, s.fit_tier, g.segment_label, g.kind,
                   s.engagement_score, s.priority_score, t.rank, s.fit_baseline, s.reasons, s.model_version,
                   s.score_status, s.status_reason
            FROM account_scores s LEFT JOIN icp_segments g USING (segment_id)
            LEFT JOIN target_accounts t USING (account_id) WHERE s.account_id = ?""", [account_id]).fetchone()
        if row is None:
            raise UnknownAccount(account_id, closest(con, account_id))
        result = Explanation(*row)
        result.contributions = _contributions(con, account_id)
    return result


def _contributions(con: duckdb.DuckDBPyConnection, account_id: str) -> list[Contribution]:
    """Every attribute's level for the account and its points, largest effect first."""
    attrs = con.execute("SELECT attribute, attribute_label, level_sql, unseen_points FROM fit_attributes "
                        "ORDER BY attribute").fetchall()
    if not attrs:
        return []
    levels = con.execute(f"SELECT {', '.join(f'{sql} AS {ident(a)}' for a, _, sql, _ in attrs)} "
                         "FROM account_features WHERE account_id = ?", [account_id]).fetchone()
    points = {(a, lvl): p for a, lvl, p in con.execute("SELECT attribute, level, points FROM fit_scorecard").fetchall()}
    out = [Contribution(label, level, points.get((a, level), unseen))
           for (a, label, _, unseen), level in zip(attrs, levels)]
    return sorted(out, key=lambda c: (-abs(c.points), c.attribute))


def closest(con: duckdb.DuckDBPyConnection, text: str, n: int = 5) -> list[tuple[str, str]]:
    """The accounts whose name or id looks most like `text` (Jaro-Winkler similarity, case-insensitive)."""
    return con.execute("""
        SELECT account_id, account_name FROM account_scores
        ORDER BY greatest(jaro_winkler_similarity(lower(account_name), lower($1)),
                          jaro_winkler_similarity(lower(account_id), lower($1))) DESC, account_id
        LIMIT $2""", [text, n]).fetchall()
