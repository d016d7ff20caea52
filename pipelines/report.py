"""The ICP report of a refresh: one self-contained HTML file (inline CSS and SVG charts, no network) with the
ICP in words, the evidence that the score works, what drives fit, score distributions, the top targets, what
changed since the last refresh, and data quality."""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from pipelines import charts
from pipelines.config import DeclaredICP
from pipelines.sql import q
from pipelines.paths import Paths

REPORT = "icp-report.html"
KEEP = 10
CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;
padding:0 1rem}h1{margin-bottom:0}h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.meta{color:#57606a;margin-top:.3rem}.note{color:#57606a;font-size:.9rem}
.kpis{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}.kpi{border:1px solid #d0d7de;border-radius:6px;
padding:.6rem 1rem;min-width:9rem}.kpi b{display:block;font-size:1.4rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.86rem;width:100%}
th,td{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.num{text-align:right;white-space:nowrap}.charts{display:flex;gap:1.5rem;flex-wrap:wrap;align-items:flex-start}
figure{margin:.5rem 0}.icp{color:#1a7f37;font-weight:600}.anti_icp{color:#cf222e;font-weight:600}
.warning{border:1px solid #cf222e;border-radius:6px;padding:.6rem 1rem;background:#ffebe9}"""


@dataclass
class Page:
    """The sections written so far, and how many charts they hold."""

    parts: list[str]
    charts: int = 0

    def section(self, anchor: str, title: str, *body: str) -> None:
        self.parts.append(f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{"".join(body)}</section>')

    def chart(self, chart) -> str:
        self.charts += 1
        return f"<figure>{charts.svg(chart)}</figure>"


def _fmt(v, spec: str = "", none: str = "n/a") -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return none
    return format(v, spec)


def table(df: pd.DataFrame, empty: str = "none") -> str:
    """An HTML table; numbers right-aligned, the `kind` column coloured."""
    if df.empty:
        return f"<p class='note'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for r in df.itertuples(index=False):
        cells = []
        for col, v in zip(df.columns, r):
            text = "" if v is None or (isinstance(v, float) and pd.isna(v)) else (
                f"{v:,.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else
                f"{v:,}" if isinstance(v, int) else str(v))
            cls = "num" if isinstance(v, (int, float)) and not isinstance(v, bool) else (
                html.escape(str(v)) if col == "kind" else "")
            cells.append(f'<td class="{cls}">{html.escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def previous_publication(publications: Path, serving_db: Path, refresh_id: str) -> Path | None:
    """The publication before this one, when it is still kept."""
    with duckdb.connect(str(serving_db), read_only=True) as con:
        row = con.execute("SELECT refresh_id FROM refreshes WHERE refresh_id <> ? ORDER BY published_at DESC LIMIT 1",
                          [refresh_id]).fetchone()
    db = publications / row[0] / "icp.duckdb" if row else None
    return db if db is not None and db.exists() else None


def write_live_report(paths: Paths, refresh_id: str, declared: DeclaredICP | None = None) -> tuple[Path, int]:
    """write_report on the home's live publication, compared with the publication before it."""
    db = paths.serving / "icp.duckdb"
    previous = previous_publication(paths.publications, db, refresh_id)
    return write_report(db, paths.reports, refresh_id, declared, previous)


def write_report(serving_db: Path, reports: Path, refresh_id: str, declared: DeclaredICP | None = None,
                 previous_db: Path | None = None) -> tuple[Path, int]:
    """Write reports/icp-report.html (and a dated copy; the last KEEP copies are kept) from a publication.
    Returns the report's path and its number of charts."""
    page = Page([])
    with duckdb.connect(str(serving_db), read_only=True) as con:
        ev = con.execute("SELECT * FROM model_evaluation").df().iloc[0]
        n_targets = con.execute("SELECT count(*) FROM target_accounts").fetchone()[0]
        _icp(con, page, declared or DeclaredICP(), ev)
        _evidence(con, page, ev)
        _drivers(con, page)
        _attribute_checks(con, page)
        _distributions(con, page)
        _targets(con, page)
        _changes(con, page, previous_db)
        _quality(con, page)
    kpis = "".join(f"<div class='kpi'>{html.escape(k)}<b>{html.escape(v)}</b></div>" for k, v in [
        ("target accounts", f"{n_targets:,}"), ("value AUC", _fmt(ev["value_auc"], ".3f")),
        ("conversion AUC", _fmt(ev["auc"], ".3f")),
        ("valuable, tier A vs D", _fmt(ev["value_lift_top_vs_bottom"], ".1f") + "x"),
        ("buyers in top 30%", _fmt(ev["recall_top_30pct"], ".0%"))])
    meta = (f"refresh {refresh_id} · model {ev['model_version']} · data as of {ev['as_of']:%Y-%m-%d} · "
            f"scored {ev['evaluated_at']:%Y-%m-%d %H:%M} UTC")
    doc = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>ICP report</title>"
           f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{CSS}</style></head><body>"
           f"<h1>Ideal Customer Profile</h1><p class='meta'>{html.escape(meta)}</p><div class='kpis'>{kpis}</div>"
           f"{_warnings(ev)}"
           f"{''.join(page.parts)}</body></html>")
    reports.mkdir(parents=True, exist_ok=True)
    dated = reports / f"icp-report-{ev['evaluated_at']:%Y%m%d-%H%M%S}.html"
    for target in (dated, reports / REPORT):
        tmp = target.with_suffix(".tmp")
        tmp.write_text(doc)
        os.replace(tmp, target)
    for old in sorted(reports.glob("icp-report-*.html"))[:-KEEP]:
        old.unlink()
    return reports / REPORT, page.charts


def _warnings(ev: pd.Series) -> str:
    """The backtest's chance warning and the target list's warning (model_evaluation) at the top of the page."""
    parts = []
    for column, anchor in (("chance_warning", "chance-warning"), ("target_list_warning", "target-list-warning")):
        warning = ev.get(column)
        if warning is not None and not pd.isna(warning):
            parts.append(f"<p class='warning' id='{anchor}'><b>Warning:</b> {html.escape(warning)}</p>")
    return "".join(parts)


# -- sections ---------------------------------------------------------------------------------------------
SEGMENT_COLUMNS = """segment_label AS segment, n_accounts AS accounts, n_customers AS customers,
    round(ideal_rate * 100, 1) AS "ideal %", round(lift, 2) AS lift, round(win_rate * 100, 1) AS "win %",
    round(avg_value_index, 1) AS "avg value", round(churn_rate * 100, 1) AS "churn %", n_prospects AS prospects"""


def _icp(con: duckdb.DuckDBPyConnection, page: Page, declared: DeclaredICP, ev: pd.Series) -> None:
    icp = con.execute(f"SELECT {SEGMENT_COLUMNS} FROM icp_segments WHERE kind = 'icp' ORDER BY segment_id").df()
    anti = con.execute(f"SELECT {SEGMENT_COLUMNS} FROM icp_segments WHERE kind = 'anti_icp' ORDER BY segment_id").df()
    seg = con.execute("SELECT segment_label AS segment, kind, lift, n_accounts FROM icp_segments "
                      "ORDER BY segment_id").df()
    intro = _p(f"{len(icp)} segments make up the ICP: their accounts turned out ideal customers more often than "
               "average (lift), and significantly so on the half of the accounts the rules were not found on "
               "(p-value in icp_segments). A segment without that evidence is neutral, however high its lift. Value "
               "is the 0-100 value index of their customers; churn is the share of their customers who left.")
    page.section("icp", "The ICP in words", intro, table(icp, "no segment stands out as ideal yet"),
                 page.chart(charts.segments(seg)) if len(seg) else "")
    page.section("anti-icp", "Anti-ICP: who not to chase",
                 _p("Segments with little value whose accounts significantly often lose the deal or turn out bad "
                    "fits (early churn, heavy support, payment trouble). Only these leave accounts off the target "
                    "list."),
                 table(anti, "no anti-ICP segment"))
    if declared.is_empty:
        body = _p("No declared ICP is set (declared_icp in icp.yaml). Set one to compare what you believe with "
                  "what the data shows.")
    else:
        rules = pd.DataFrame([
            ("industries", ", ".join(declared.industries) or "any"),
            ("employees", "-".join("" if v is None else f"{v:,}" for v in declared.employee_count)
             if declared.employee_count else "any"),
            ("regions", ", ".join(declared.regions) or "any"),
            ("technologies", ", ".join(declared.technologies) or "any")], columns=["declared rule", "value"])
        versus = pd.DataFrame([
            ("learned (this model)", ev["auc"], ev["lift_top_vs_bottom"], ev["recall_top_30pct"]),
            ("declared ICP", ev["declared_auc"], ev["declared_lift_top_vs_bottom"], ev["declared_recall_top_30pct"]),
        ], columns=["ICP", "backtest AUC", "tier A vs D", "buyers in top 30%"])
        body = _p("The ICP you declared, and how it did in the same backtest:") + table(rules) + table(versus)
    page.section("declared", "Declared ICP next to the learned one", body)


def _verdict(auc: float, low: float, high: float, ev: pd.Series) -> str:
    """An AUC, its interval and whether it beats chance, in words."""
    beats = "better than chance" if low > ev["chance_auc"] else "NOT distinguishable from chance"
    return f"AUC {auc:.3f}, {ev['confidence']:.0%} interval {low:.3f} to {high:.3f}: {beats}"


def _evidence(con: duckdb.DuckDBPyConnection, page: Page, ev: pd.Series) -> None:
    rates = con.execute("""SELECT tier, n_test, n_positive, conversion_rate AS conversion, n_valuable,
                                  valuable_rate AS valuable, revenue_share FROM model_evaluation_tiers
                           ORDER BY tier""").df()
    gain = con.execute("SELECT share_contacted, share_converted FROM model_evaluation_gain "
                       "ORDER BY share_contacted").df()
    calibration = con.execute("SELECT bin, n AS accounts, round(mean_predicted * 100, 1) AS \"predicted %\", "
                              "round(observed_rate * 100, 1) AS \"observed %\" FROM model_evaluation_calibration "
                              "ORDER BY bin").df()
    if pd.isna(ev["auc"]) or not len(gain):
        page.section("evidence", "The evidence: does the score work?",
                     _p(f"No backtest this time: too few accounts made a buying decision on each side of the cutoff "
                        f"({_fmt(ev['cutoff_date'], '%Y-%m-%d')}). It runs once there is history to test on."))
        return
    tier = rates.set_index("tier")
    value = (f"a valuable customer outscored the other test accounts {ev['value_auc']:.0%} of the time "
             f"({_verdict(ev['value_auc'], ev['value_auc_ci_low'], ev['value_auc_ci_high'], ev)})"
             if pd.notna(ev["value_auc"]) else "not measurable yet (no test account has become valuable)")
    sentences = [
        f"The model was learned from what was known on {ev['cutoff_date']:%Y-%m-%d} (labels, bands, segments and "
        f"scorecard from that day's data only) and tested on the {int(ev['n_test']):,} accounts that were not "
        f"customers then and made a buying decision after it, ranked as that day's target list would have ranked "
        f"them.",
        f"Value: {int(ev['n_valuable']):,} of them became valuable customers; {value}. Tier A's valuable rate was "
        f"{_fmt(ev['value_lift_top_vs_bottom'], '.1f')} times tier D's, and tier A brought "
        f"{_fmt(ev['revenue_share_top_tier'], '.0%')} of the new revenue.",
        f"Conversion: a buyer outscored a non-buyer {ev['auc']:.0%} of the time "
        f"({_verdict(ev['auc'], ev['auc_ci_low'], ev['auc_ci_high'], ev)}). Tier A converted "
        f"{_fmt(tier['conversion'].get('A'), '.0%')} against {_fmt(tier['conversion'].get('D'), '.0%')} for tier D, "
        f"and calling the list's first 30% would have found {_fmt(ev['recall_top_30pct'], '.0%')} of the buyers. "
        f"The list would have left out {int(ev['n_test_excluded']):,} of them (anti-ICP segments and exclusions), "
        f"of whom {_fmt(ev['excluded_conversion_rate'], '.0%')} bought.",
        "An ICP is about who becomes valuable, not only who buys: the warning at the top fires only when neither "
        "figure beats chance.",
    ]
    shown = rates.assign(**{c: (rates[c] * 100).round(1) for c in ("conversion", "valuable", "revenue_share")})
    page.section("evidence", "The evidence: does the score work?", *(_p(s) for s in sentences),
                 "<div class='charts'>" + page.chart(charts.tiers(rates[["tier", "conversion"]].dropna()))
                 + page.chart(charts.gain(gain)) + "</div>",
                 table(shown.rename(columns={"n_test": "accounts", "n_positive": "converted",
                                             "conversion": "conversion %", "n_valuable": "valuable",
                                             "valuable": "valuable %", "revenue_share": "new revenue %"})),
                 _p(f"Calibration: fit_probability (the chance of winning the account times the chance it turns out "
                    f"valuable) against what happened, in fifths of the test accounts; mean gap "
                    f"{_fmt(ev['calibration_error'], '.1%')}."), table(calibration, "no test account to judge"))


def _drivers(con: duckdb.DuckDBPyConnection, page: Page) -> None:
    points = con.execute("SELECT attribute_label AS attribute, level, round(points, 1) AS points FROM fit_scorecard "
                         "ORDER BY abs(points) DESC, level LIMIT 16").df()
    spread = con.execute("""SELECT attribute_label AS attribute, round(max(points) - min(points), 1) AS "range of points",
                                   arg_max(level, points) AS "best level", arg_min(level, points) AS "worst level"
                            FROM fit_scorecard GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT 10""").df()
    page.section("drivers", "What drives fit",
                 _p("Every fit score is a baseline plus one contribution per attribute. These levels move it most; "
                    "the table ranks attributes by how far they can move a score."),
                 page.chart(charts.drivers(points)) if len(points) else "", table(spread))


def _attribute_checks(con: duckdb.DuckDBPyConnection, page: Page) -> None:
    checks = con.execute("""SELECT attribute, round(missing_customers * 100, 1) AS "missing % customers",
                                   round(missing_lost * 100, 1) AS "missing % lost",
                                   round(missing_prospects * 100, 1) AS "missing % prospects", verdict,
                                   coalesce(customer_only_levels, '') AS "values held by customers only"
                            FROM fit_attribute_checks ORDER BY attribute""").df()
    page.section("attribute-checks", "Attributes filled in after the sale",
                 _p("An attribute known for nearly all customers but missing for nearly all other accounts was "
                    "probably entered after the sale: its presence alone would predict buying, so the fit leaves "
                    "it out (model.leakage in icp.yaml)."), table(checks))


def _distributions(con: duckdb.DuckDBPyConnection, page: Page) -> None:
    bins = con.execute("""
        SELECT lifecycle, band, n / sum(n) OVER (PARTITION BY lifecycle) AS share FROM (
            SELECT lifecycle, least(floor(fit_score / 5) * 5, 95) + 2.5 AS band, count(*) AS n
            FROM account_scores GROUP BY lifecycle, band)
        ORDER BY lifecycle, band""").df()
    stats = con.execute("""SELECT lifecycle, count(*) AS accounts, round(median(fit_score), 1) AS "median fit",
                                  round(quantile_cont(fit_score, 0.9), 1) AS "90th percentile"
                           FROM account_scores GROUP BY ALL ORDER BY lifecycle""").df()
    page.section("distributions", "Score distributions",
                 _p("Customers should sit to the right of prospects: the score ranks accounts like the ones that "
                    "became good customers higher."), page.chart(charts.distribution(bins)), table(stats))


def _targets(con: duckdb.DuckDBPyConnection, page: Page) -> None:
    top = con.execute("""SELECT rank, account_name AS account, fit_tier AS tier, round(fit_score, 1) AS fit,
                                round(priority_score, 1) AS priority, owner, segment_label AS segment, reasons
                         FROM target_accounts ORDER BY rank LIMIT 25""").df()
    page.section("targets", "Top 25 target accounts",
                 _p("Ranked by priority: fit, plus recent engagement. Reasons add up to the fit score."),
                 table(top, "no prospects to rank: every account is a customer or a bad fit"))


def _changes(con: duckdb.DuckDBPyConnection, page: Page, previous_db: Path | None) -> None:
    if previous_db is None:
        page.section("changes", "What changed since the last refresh",
                     _p("This is the first refresh kept here: nothing to compare with yet."))
        return
    new = con.execute("""SELECT rank, account_name AS account, fit_tier AS tier, round(priority_score, 1) AS priority
                         FROM target_accounts WHERE is_new ORDER BY rank LIMIT 10""").df()
    n_new = con.execute("SELECT count(*) FROM target_accounts WHERE is_new").fetchone()[0]
    moves = con.execute("""SELECT account_name AS account, previous_rank - rank AS moved, previous_rank, rank
                           FROM target_accounts WHERE previous_rank IS NOT NULL AND previous_rank <> rank
                           ORDER BY abs(previous_rank - rank) DESC, rank LIMIT 12""").df()
    con.execute(f"ATTACH {q(str(previous_db))} AS previous (READ_ONLY)")
    try:
        segments = con.execute("""
            SELECT coalesce(c.segment_label, p.segment_label) AS segment, coalesce(c.kind, p.kind) AS kind,
                   p.n_accounts AS before, c.n_accounts AS now, coalesce(c.n_accounts, 0) - coalesce(p.n_accounts, 0) AS change
            FROM icp_segments c FULL JOIN previous.icp_segments p USING (segment_label)
            WHERE coalesce(c.n_accounts, -1) <> coalesce(p.n_accounts, -1)
            ORDER BY abs(change) DESC, segment LIMIT 12""").df()
        dropped = con.execute("SELECT count(*) FROM previous.target_accounts p WHERE account_id NOT IN "
                              "(SELECT account_id FROM target_accounts)").fetchone()[0]
    finally:
        con.execute("DETACH previous")
    page.section("changes", "What changed since the last refresh",
                 _p(f"{n_new:,} accounts are new on the list and {dropped:,} left it."), table(new, "no new entries"),
                 page.chart(charts.movers(moves)) if len(moves) else _p("No account changed rank."),
                 "<h3>Segments that grew or shrank</h3>", table(segments, "segments unchanged"))


def _quality(con: duckdb.DuckDBPyConnection, page: Page) -> None:
    summary = con.execute("""SELECT entity, files, rows_read AS "read", rows_kept AS kept, rows_rejected AS rejected,
                                    rows_excluded AS excluded, rows_unmatched AS unmatched, rows_superseded AS superseded,
                                    values_nulled AS "values nulled" FROM ingest_summary WHERE files > 0
                             ORDER BY entity""").df()
    reasons = con.execute("""SELECT entity, severity, coalesce(column_name, '') AS "column", count(*) AS rows,
                                    min(reason) AS example FROM quarantine GROUP BY ALL ORDER BY rows DESC LIMIT 12""").df()
    page.section("quality", "Data quality",
                 _p("What the refresh read from each landing entity. Every row not kept is in the quarantine table "
                    "with its file, row number and reason."),
                 page.chart(charts.quality(summary)) if len(summary) else "", table(summary),
                 "<h3>Top quarantine reasons</h3>", table(reasons, "nothing quarantined"))
