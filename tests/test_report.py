"""The HTML ICP report (sections, charts, offline) and `icp explain` (the published scorecard rebuilds every
fit score)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from pipelines.explain import UnknownAccount, explain
from pipelines.paths import Paths
from pipelines.report import write_report
from tests.conftest import read

SECTIONS = {"icp", "anti-icp", "declared", "evidence", "drivers", "attribute-checks", "distributions", "targets", "changes", "quality"}


class _Outline(HTMLParser):
    """Section ids, chart count, table rows per section, and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.svgs = 0
        self.rows: dict[str, int] = {}
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a["id"])
        if tag == "svg":
            self.svgs += 1
        if tag == "tr" and self.sections:
            self.rows[self.sections[-1]] = self.rows.get(self.sections[-1], 0) + 1
        self.urls += [v for k, v in attrs if k in ("src", "href", "xlink:href", "action", "data") and v]


def _outline(path: Path) -> tuple[_Outline, str]:
    text = path.read_text()
    parser = _Outline()
    parser.feed(text)
    return parser, text


def test_report_is_one_offline_file_with_every_section_and_charts(refreshed_home: Paths) -> None:
    report = refreshed_home.reports / "icp-report.html"
    outline, text = _outline(report)
    assert set(outline.sections) == SECTIONS
    assert outline.svgs >= 5
    assert outline.rows["targets"] == 26  # header + the top 25
    assert outline.rows["attribute-checks"] == 6  # header + five attributes, all used on the demo data
    # nothing to fetch: no links, scripts, stylesheets, fonts or images from anywhere
    assert [u for u in outline.urls if not u.startswith("#")] == []
    assert not re.search(r"url\(|@import|<script|<link|<img|<iframe", text, re.I)
    assert len(list(refreshed_home.reports.glob("icp-report-*.html"))) >= 1  # a dated copy is kept


def test_report_shows_what_changed_since_the_previous_publication(refreshed_home: Paths, tmp_path: Path) -> None:
    db = refreshed_home.serving / "icp.duckdb"
    previous = tmp_path / "previous.duckdb"
    shutil.copy(db, previous)
    with duckdb.connect(str(previous)) as con:  # yesterday: 3 accounts not yet listed, one segment smaller
        con.execute("DELETE FROM target_accounts WHERE rank IN (2, 5, 9)")
        con.execute("UPDATE icp_segments SET n_accounts = n_accounts - 7 WHERE segment_id = 'S01'")
    current = tmp_path / "current.duckdb"
    shutil.copy(db, current)
    with duckdb.connect(str(current)) as con:  # as publish() marks them against `previous`
        con.execute("UPDATE target_accounts SET is_new = rank IN (2, 5, 9), "
                    "previous_rank = CASE WHEN rank IN (2, 5, 9) THEN NULL ELSE rank + 3 END")
    path, charts = write_report(current, tmp_path / "reports", "r2", previous_db=previous)
    outline, text = _outline(path)
    assert charts == outline.svgs and charts >= 6  # the movers chart joins the others
    changes = text[text.index('<section id="changes">'):]
    changes = changes[:changes.index("</section>")]
    assert "3 accounts are new on the list and 0 left it." in changes
    assert "Biggest movers since the last refresh" in changes
    segment = read(refreshed_home, "SELECT segment_label, n_accounts FROM icp_segments WHERE segment_id = 'S01'")[0]
    assert f"<td class=\"\">{segment[0]}</td>" in changes.replace("&lt;", "<").replace("&gt;", ">")
    assert f'<td class="num">{segment[1] - 7:,}</td><td class="num">{segment[1]:,}</td><td class="num">7</td>' in changes


def test_report_materialisation_carries_segments_and_metrics(refreshed_home: Paths) -> None:
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.from_config(str(refreshed_home.dagster_home)) as instance:
        event = instance.get_latest_materialization_event(AssetKey(["serving", "report"]))
    metadata = event.asset_materialization.metadata
    assert metadata["report"].value == str(refreshed_home.reports / "icp-report.html")
    assert "| segment" in metadata["icp_segments"].value
    assert metadata["charts"].value >= 5
    assert 0.5 < metadata["backtest_auc"].value <= 1


def test_published_scorecard_rebuilds_every_fit_score(refreshed_home: Paths) -> None:
    db = refreshed_home.serving / "icp.duckdb"
    ids = [r[0] for r in read(refreshed_home, "SELECT account_id FROM account_scores ORDER BY account_id")]
    for account_id in ids[::40]:  # 100 accounts across the list
        e = explain(db, account_id)
        rebuilt = e.baseline + sum(c.points for c in e.contributions)
        assert min(max(rebuilt, 0.0), 100.0) == pytest.approx(e.fit_score, abs=0.01)  # the scale is clipped to 0..100
        assert len(e.contributions) == read(refreshed_home, "SELECT count(*) FROM fit_attributes")[0][0]


def _icp(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "dagster_project.cli", *args], capture_output=True, text=True,
                          env=env)


def test_icp_explain_prints_a_table_in_80_columns_and_json(refreshed_home: Paths) -> None:
    account_id, name, rank = read(refreshed_home, "SELECT account_id, account_name, rank FROM target_accounts "
                                                  "WHERE rank = 1")[0]
    done = _icp("explain", account_id, "--home", str(refreshed_home.home))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert f"{name} ({account_id})" in lines[0] and "#1 on the target list" in lines[0]
    assert any("baseline" in line for line in lines) and any("fit score" in line for line in lines)
    as_json = json.loads(_icp("explain", account_id, "--home", str(refreshed_home.home), "--json").stdout)
    assert as_json["rank"] == rank and as_json["account_name"] == name
    assert as_json["baseline"] + sum(c["points"] for c in as_json["contributions"]) == pytest.approx(
        as_json["fit_score"], abs=0.01)


def test_icp_explain_says_why_a_prospect_is_disqualified(refreshed_home: Paths) -> None:
    account_id, why = read(refreshed_home, "SELECT account_id, status_reason FROM account_scores "
                                           "WHERE lifecycle = 'prospect' AND score_status = 'disqualified' "
                                           "ORDER BY account_id LIMIT 1")[0]
    done = _icp("explain", account_id, "--home", str(refreshed_home.home))
    assert done.returncode == 0, done.stderr
    assert "not on the target list" in done.stdout and "status: disqualified: anti-ICP segment S" in done.stdout
    as_json = json.loads(_icp("explain", account_id, "--home", str(refreshed_home.home), "--json").stdout)
    assert (as_json["score_status"], as_json["status_reason"]) == ("disqualified", why)


def test_icp_explain_an_unknown_account_suggests_the_closest_names(refreshed_home: Paths) -> None:
    account_id, name = read(refreshed_home, "SELECT account_id, account_name FROM target_accounts WHERE rank = 1")[0]
    typo = name[:-2] + name[-1] + name[-2]  # the last two letters swapped
    done = _icp("explain", typo, "--home", str(refreshed_home.home))
    assert done.returncode == 1
    assert f"no account '{typo}'" in done.stderr
    assert f"{account_id}  {name}" in done.stderr
    with pytest.raises(UnknownAccount) as err:
        explain(refreshed_home.serving / "icp.duckdb", typo)
    assert err.value.closest[0] == (account_id, name)
