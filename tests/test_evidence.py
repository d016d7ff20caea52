"""The evidence users judge the product by: value measured in the backtest, two ICPs found, no skill on noise, and a
backtest that learns only from what was known at its cutoff."""
from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.demo import generate
from pipelines.paths import Paths
from pipelines.sql import q
from tests.conftest import read

REALISTIC_ACCOUNTS = 15_000
PRE_SALE = ["industry", "employee_count", "annual_revenue", "country", "region", "lead_source", "technologies"]


def _refresh(home: Path, landing: Path) -> Paths:
    from dagster_project.refresh import run_refresh

    paths = Paths.resolve(home, landing)
    outcome = run_refresh(paths)
    assert outcome.success, f"{outcome.failed_step}: {outcome.error}"
    return paths


def _rewrite(csv: Path, select: str) -> None:
    """Replace a landing CSV by `select` over its rows (table `src`)."""
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE src AS SELECT * FROM read_csv({q(str(csv))}, all_varchar = true)")
        con.execute(f"COPY ({select}) TO {q(str(csv))} (HEADER)")


@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Paths, Path]:
    root = tmp_path_factory.mktemp("realistic")
    generate(root / "landing", accounts=REALISTIC_ACCOUNTS, seed=7, realistic=True)
    return _refresh(root / "home", root / "landing"), root / "landing_truth.csv"


def test_on_realistic_data_the_backtest_measures_value_and_beats_chance(realistic) -> None:
    paths, _ = realistic
    value_auc, low, chance, n_valuable, revenue_share = read(paths, """
        SELECT value_auc, value_auc_ci_low, chance_warning, n_valuable, revenue_share_top_tier
        FROM model_evaluation""")[0]
    assert value_auc >= 0.8 and low > 0.5 and n_valuable >= 30
    assert chance is None
    assert revenue_share > 0.3  # tier A holds about a fifth of the test accounts


def test_on_realistic_data_both_planted_icps_are_icp_segments(realistic) -> None:
    paths, truth = realistic
    with duckdb.connect() as con:
        con.execute(f"ATTACH {q(str(paths.serving / 'icp.duckdb'))} AS p (READ_ONLY)")
        found = con.execute(f"""
            SELECT t.planted_icp, avg(CASE WHEN g.kind = 'icp' THEN 1.0 ELSE 0.0 END) AS covered,
                   mode(CASE WHEN g.kind = 'icp' THEN g.segment_id END) AS segment
            FROM p.account_scores s JOIN read_csv({q(str(truth))}) t USING (account_id)
            JOIN p.icp_segments g USING (segment_id)
            WHERE t.planted_icp > 0 GROUP BY t.planted_icp ORDER BY t.planted_icp""").fetchall()
    assert [icp for icp, _, _ in found] == [1, 2]
    assert all(covered >= 0.5 for _, covered, _ in found), found
    assert found[0][2] != found[1][2], found  # each ICP its own segment


def test_negative_control_shuffled_attributes_show_no_skill_and_warn(realistic, tmp_path: Path) -> None:
    """Every pre-sale attribute shuffled across accounts (the same shuffle for all, so that a row stays a real
    company): the backtest shows no skill, the refresh warns, no segment is called icp or anti_icp, and no prospect
    is left off the list by a segment."""
    _, truth = realistic
    landing = tmp_path / "landing"
    generate(landing, accounts=REALISTIC_ACCOUNTS, seed=7, realistic=True)
    order = np.random.default_rng(0).permutation(REALISTIC_ACCOUNTS)
    with duckdb.connect() as con:
        con.execute(f"CREATE TABLE src AS SELECT * FROM read_csv({q(str(landing / 'crm/accounts.csv'))}, "
                    "all_varchar = true)")
        con.register("perm", pd.DataFrame({"position": np.arange(REALISTIC_ACCOUNTS), "source": order}))
        shuffled = ", ".join(f"b.{c}" for c in PRE_SALE)
        con.execute(f"""COPY (
            WITH a AS (SELECT *, row_number() OVER (ORDER BY account_id) - 1 AS position FROM src),
                 b AS (SELECT *, row_number() OVER (ORDER BY account_id) - 1 AS position FROM src)
            SELECT a.* EXCLUDE (position, {', '.join(PRE_SALE)}), {shuffled}
            FROM a JOIN perm USING (position) JOIN b ON b.position = perm.source ORDER BY a.account_id)
            TO {q(str(landing / 'crm/accounts.csv'))} (HEADER)""")
    paths = _refresh(tmp_path / "home", landing)
    auc_low, value_low, chance = read(paths, "SELECT auc_ci_low, value_auc_ci_low, chance_warning "
                                             "FROM model_evaluation")[0]
    assert auc_low <= 0.5 and value_low <= 0.5
    assert chance.startswith("MODEL NO BETTER THAN CHANCE")
    assert read(paths, "SELECT DISTINCT kind FROM icp_segments") == [("neutral",)]
    assert read(paths, "SELECT count(*) FROM account_scores WHERE status_reason LIKE 'anti-ICP%'") == [(0,)]
    report = next((paths.home / "reports").glob("*.html")).read_text()
    assert "MODEL NO BETTER THAN CHANCE" in report


def test_the_backtest_learns_nothing_from_after_its_cutoff(tmp_path: Path) -> None:
    """Change everything that happened after the cutoff but the decisions the backtest is judged on (invoices
    after it tripled or left unpaid, tickets moved to other accounts, subscriptions that ended since running on,
    new accounts created since): the model learned at the cutoff stays the same, to the last digit."""
    landing = tmp_path / "landing"
    generate(landing, accounts=3000, seed=4)
    before = _refresh(tmp_path / "before", landing)
    cutoff, version, n_train = read(before, "SELECT cutoff_date, backtest_model_version, n_train "
                                            "FROM model_evaluation")[0]
    after = f"CAST({q(str(cutoff))} AS DATE) + INTERVAL 1 DAY"  # the cutoff is a time of day on cutoff_date
    _rewrite(landing / "billing/invoices.csv", f"""
        SELECT * REPLACE (
            CASE WHEN CAST(issued_at AS TIMESTAMP) > {after} THEN CAST(CAST(amount AS DOUBLE) * 3 AS VARCHAR)
                 ELSE amount END AS amount,
            CASE WHEN CAST(issued_at AS TIMESTAMP) > {after} AND hash(invoice_id) % 2 = 0 THEN 'uncollectible'
                 ELSE status END AS status)
        FROM src""")
    _rewrite(landing / "support/tickets.csv", f"""
        SELECT * REPLACE (CASE WHEN CAST(created_at AS TIMESTAMP) > {after}
                               THEN printf('ACC-%07d', hash(ticket_id) % 3000) ELSE account_id END AS account_id)
        FROM src""")
    _rewrite(landing / "billing/subscriptions.csv", f"""
        SELECT * REPLACE (CASE WHEN CAST(ended_at AS TIMESTAMP) > {after} THEN NULL ELSE ended_at END AS ended_at,
                          CASE WHEN CAST(ended_at AS TIMESTAMP) > {after} THEN 'active' ELSE status END AS status)
        FROM src""")
    _rewrite(landing / "crm/accounts.csv", f"""
        SELECT * FROM src UNION ALL
        SELECT printf('NEW-%05d', i) AS account_id, 'Newco ' || i AS account_name,
               CAST({after} + INTERVAL (i % 200) DAY AS VARCHAR) AS created_at,
               * EXCLUDE (i, account_id, account_name, created_at)
        FROM (SELECT row_number() OVER () AS i, * FROM (FROM src USING SAMPLE reservoir(300 ROWS) REPEATABLE (1)))""")
    changed = _refresh(tmp_path / "after", landing)
    assert read(changed, "SELECT cutoff_date, backtest_model_version, n_train FROM model_evaluation")[0] == (
        cutoff, version, n_train)
    # ... while today's model did see the changes.
    assert read(changed, "SELECT model_version FROM model_evaluation") != read(before, "SELECT model_version "
                                                                                        "FROM model_evaluation")
