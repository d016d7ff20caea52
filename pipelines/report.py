"""The HTML ICP report of a refresh: the ICP in words, how well it predicts, and who to call first."""
from __future__ import annotations

import html
import os
from pathlib import Path

import duckdb

CSS = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}h1{margin-bottom:0}
.meta{color:#666;margin-top:.2rem}table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}.icp{color:#0a7c2f;font-weight:600}.anti_icp{color:#b00020}"""

SECTIONS = [
    ("The ICP in words", """SELECT segment_label AS segment, kind, n_accounts AS accounts, n_customers AS customers,
        round(ideal_rate * 100, 1) AS "ideal %", round(lift, 2) AS lift, round(win_rate * 100, 1) AS "win %",
        round(churn_rate * 100, 1) AS "churn %", n_prospects AS prospects FROM icp_segments ORDER BY segment_id"""),
    ("Does the score work? Out-of-time backtest", """SELECT tier, n_test AS "accounts decided after the cutoff",
        n_positive AS won, round(conversion_rate * 100, 1) AS "conversion %" FROM model_evaluation_tiers ORDER BY tier"""),
    ("Top 25 target accounts", """SELECT rank, account_name AS account, industry, employee_count AS employees, region,
        fit_tier AS tier, round(fit_score, 1) AS fit, round(engagement_score, 1) AS engagement,
        round(priority_score, 1) AS priority, reasons FROM target_accounts ORDER BY rank LIMIT 25"""),
    ("Quarantined landing rows", """SELECT entity, severity, column_name AS "column", count(*) AS rows,
        min(reason) AS "example" FROM quarantine GROUP BY ALL ORDER BY rows DESC LIMIT 20"""),
]


def _table(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    df = con.execute(sql).df()
    if df.empty:
        return "<p>none</p>"
    rows = "".join("<tr>" + "".join(f'<td class="{html.escape(str(v))}">{html.escape("" if v is None else str(v))}</td>'
                                     for v in r) + "</tr>" for r in df.itertuples(index=False))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    return f"<table><tr>{head}</tr>{rows}</table>"


def write_report(serving_db: Path, reports: Path, refresh_id: str) -> Path:
    """Write reports/<refresh_id>.html and reports/latest.html from a publication; returns the refresh's file."""
    with duckdb.connect(str(serving_db), read_only=True) as con:
        ev = con.execute("""SELECT model_version, auc, lift_top_vs_bottom, recall_top_30pct, as_of, evaluated_at
                            FROM model_evaluation""").fetchone()
        n_targets = con.execute("SELECT count(*) FROM target_accounts").fetchone()[0]
        body = "".join(f"<h2>{html.escape(title)}</h2>{_table(con, sql)}" for title, sql in SECTIONS)
    fmt = lambda v, p: "n/a" if v is None else format(v, p)  # noqa: E731
    summary = (f"model {html.escape(ev[0])} · data as of {ev[4]:%Y-%m-%d} · scored {ev[5]:%Y-%m-%d %H:%M} UTC · "
               f"backtest AUC {fmt(ev[1], '.3f')}, tier A converts {fmt(ev[2], '.1f')}x tier D, "
               f"top 30% of scores find {fmt(ev[3], '.0%')} of conversions · {n_targets:,} target accounts")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>ICP report {html.escape(refresh_id)}</title>"
            f"<style>{CSS}</style></head><body><h1>Ideal Customer Profile</h1><p class='meta'>{summary}</p>"
            f"{body}</body></html>")
    reports.mkdir(parents=True, exist_ok=True)
    out = reports / f"icp-report-{refresh_id}.html"
    for target in (out, reports / "latest.html"):
        tmp = target.with_suffix(".tmp")
        tmp.write_text(page)
        os.replace(tmp, target)
    return out
