"""Ingest: every landing-contract rule, on hand-made files with known problems and exact expected counts."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import Ingestor, LandingError, ingest_all

ACCOUNTS = (
    "\ufeff Account_ID ,ACCOUNT_NAME,created_at,employee_count,region,Extra Column\r\n"
    "A1,\"Acme, \"\"Inc\"\"\",2026-01-01,10,NA,x\r\n"         # quoted comma and quotes; BOM; CRLF
    "A2,Beta,not-a-date,5,EMEA,x\r\n"                          # required timestamp unparseable -> rejected
    "A3,\"Gamma\nLine\",2026-01-01T10:00:00+02:00,-4,APAC,x\r\n"  # line break in quotes; range -> nulled
    "A1,Dup,2026-01-02,1,,x\r\n"                               # duplicate key in file -> rejected
    "A4,Delta,2026-02-01 08:30:00Z,abc,,x\r\n"                 # integer unparseable -> nulled
    ",NoId,2026-02-01,1,,x\r\n"                                # required key missing -> rejected
)
for i in range(5, 85):
    ACCOUNTS += f"A{i},Co {i},2026-03-01,{i},,x\r\n"

OPPS_A = (
    "opportunity_id,account_id,created_at,stage,amount,currency,opportunity_type,is_won\n"
    "O1,A1,2026-01-01,Won,100,EUR,new_business,yes\n"       # replaced by O1 in b.csv
    "O2,A99,2026-01-01,Lost,100,,renewal,N\n"               # unknown account -> rejected
    "O3,A1,2026-01-01,Won,100,XYZ,Expansion,1\n"            # no fx rate -> rejected
    "O4,A1,2026-01-01,open,5,usd,foo,maybe\n"               # allowed -> nulled; boolean -> nulled
    "O5,A2,2026-01-01,open,5,,,\n"                          # account A2 was rejected -> rejected
)
for i in range(6, 100):
    OPPS_A += f"O{i},A{5 + i % 80},2026-01-01,Closed Won,{i},gbp,new_business,T\n"
OPPS_B = "opportunity_id,account_id,created_at,stage\nO1,A3,2026-03-01,Won\n"


def _landing(root: Path) -> Path:
    (root / "crm" / "opportunities").mkdir(parents=True)
    (root / "reference").mkdir()
    (root / "crm" / "accounts.csv").write_bytes(ACCOUNTS.encode("utf-8"))
    (root / "crm" / "opportunities" / "a.csv").write_text(OPPS_A)
    (root / "crm" / "opportunities" / "b.csv.gz").write_bytes(gzip.compress(OPPS_B.encode()))
    (root / "reference" / "fx_rates.csv").write_text("currency,rate_to_usd\neur,1.1\nGBP,1.25\n")
    return root


@pytest.fixture()
def ingested(tmp_path: Path):
    landing = _landing(tmp_path / "landing")
    con = duckdb.connect()
    reports = ingest_all(con, landing, "r1")
    yield con, reports
    con.close()


def _quarantine(con, entity: str) -> list[tuple]:
    return con.execute("""SELECT source_file, row_number, primary_key, column_name, severity, reason
                          FROM raw.quarantine WHERE entity = ? ORDER BY source_file, row_number, column_name""",
                       [entity]).fetchall()


def test_accounts_rules_exact(ingested) -> None:
    con, reports = ingested
    r = reports["crm/accounts"]
    assert (r.rows_read, r.rows_kept, r.rows_rejected, r.values_nulled) == (86, 83, 3, 2)
    assert _quarantine(con, "crm/accounts") == [
        ("crm/accounts.csv", 2, "A2", "created_at", "rejected", "created_at 'not-a-date' is not a timestamp"),
        ("crm/accounts.csv", 3, "A3", "employee_count", "nulled", "employee_count -4 is below 0"),
        ("crm/accounts.csv", 4, "A1", "account_id", "rejected", "account_id 'A1' repeats row 1 of this file"),
        ("crm/accounts.csv", 5, "A4", "employee_count", "nulled", "employee_count 'abc' is not an integer"),
        ("crm/accounts.csv", 6, None, "account_id", "rejected", "account_id is missing"),
    ]
    rows = dict(con.execute("SELECT account_id, account_name FROM raw.crm_accounts").fetchall())
    assert rows["A1"] == 'Acme, "Inc"' and rows["A3"] == "Gamma\nLine"
    ts = con.execute("SELECT created_at FROM raw.crm_accounts WHERE account_id IN ('A3', 'A4') ORDER BY 1").fetchall()
    assert [str(t[0]) for t in ts] == ["2026-01-01 08:00:00", "2026-02-01 08:30:00"]  # stored as UTC


def test_raw_record_is_the_row_as_read(ingested) -> None:
    con, _ = ingested
    raw = con.execute("SELECT raw_record FROM raw.quarantine WHERE primary_key = 'A2'").fetchone()[0]
    assert json.loads(raw)["created_at"] == "not-a-date"


def test_opportunity_rules_exact(ingested) -> None:
    con, reports = ingested
    r = reports["crm/opportunities"]
    assert (r.rows_read, r.rows_rejected, r.rows_superseded) == (100, 3, 1)
    assert r.rows_kept == 96
    q = _quarantine(con, "crm/opportunities")
    assert ("crm/opportunities/a.csv", 1, "O1", "opportunity_id", "rejected",
            "opportunity_id 'O1' is replaced by crm/opportunities/b.csv.gz (a later export)") in q
    assert ("crm/opportunities/a.csv", 2, "O2", "account_id", "rejected", "account_id 'A99' is not in crm/accounts") in q
    assert ("crm/opportunities/a.csv", 3, "O3", "currency", "rejected", "currency 'XYZ' has no rate in reference/fx_rates") in q
    assert ("crm/opportunities/a.csv", 5, "O5", "account_id", "rejected", "account_id 'A2' is not in crm/accounts") in q
    assert ("crm/opportunities/a.csv", 4, "O4", "opportunity_type", "nulled",
            "opportunity_type 'foo' is not one of new_business, expansion, renewal") in q
    assert ("crm/opportunities/a.csv", 4, "O4", "is_won", "nulled", "is_won 'maybe' is not a boolean") in q
    assert len(q) == 6
    won = dict(con.execute("SELECT opportunity_id, is_won FROM raw.crm_opportunities").fetchall())
    assert won["O6"] is True and won["O4"] is None
    o1 = con.execute("SELECT account_id, _source_file FROM raw.crm_opportunities WHERE opportunity_id = 'O1'").fetchone()
    assert o1 == ("A3", "crm/opportunities/b.csv.gz")
    gbp = con.execute("SELECT amount, currency, amount_usd FROM raw.crm_opportunities WHERE opportunity_id = 'O8'").fetchone()
    assert gbp == (8.0, "GBP", 10.0)


def test_optional_entities_absent_make_empty_tables(ingested) -> None:
    con, reports = ingested
    assert reports["billing/invoices"].rows_read == 0
    assert con.execute("SELECT count(*) FROM raw.billing_invoices").fetchone()[0] == 0



def test_raw_tables_are_views_of_the_kept_landed_rows(tmp_path: Path) -> None:
    """raw.<table> is the kept rows of raw.<table>__landed, also in a warehouse where an older version wrote
    raw.<table> as a table."""
    landing = _landing(tmp_path / "landing")
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw; CREATE TABLE raw.crm_accounts (account_id VARCHAR)")
    ingest_all(con, landing, "r1")
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE schema_name = 'raw'").fetchall()}
    assert {"crm_accounts", "crm_opportunities", "billing_invoices"} <= views
    landed = con.execute("SELECT count(*), count(__rejected) FROM raw.crm_accounts__landed").fetchone()
    assert landed == (86, 3)  # every row read; A2, the second A1 and the row without an id rejected
    assert con.execute("SELECT count(*) FROM raw.crm_accounts").fetchone()[0] == 83

@pytest.mark.parametrize("value,expected", [
    ("true", True), ("T", True), ("yes", True), ("Y", True), ("1", True),
    ("false", False), ("f", False), ("NO", False), ("n", False), ("0", False),
])
def test_boolean_spellings(tmp_path: Path, value: str, expected: bool) -> None:
    landing = tmp_path / "l"
    (landing / "crm").mkdir(parents=True)
    (landing / "crm" / "accounts.csv").write_text("account_id,account_name,created_at\nA1,a,2026-01-01\n")
    (landing / "crm" / "opportunities.csv").write_text(
        f"opportunity_id,account_id,created_at,stage,is_closed\nO1,A1,2026-01-01,x,{value}\n")
    con = duckdb.connect()
    ingest_all(con, landing, "r")
    assert con.execute("SELECT is_closed FROM raw.crm_opportunities").fetchone()[0] is expected


def _minimal(landing: Path, fmt: str) -> None:
    (landing / "crm" / "opportunities").mkdir(parents=True)
    rows = [{"Account_Id": f"A{i}", "account_name": f"n{i}", "created_at": "2026-01-01T00:00:00Z"} for i in range(3)]
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('A0','n0','2026-01-01T00:00:00Z'), "
                "('A1','n1','2026-01-01T00:00:00Z'), ('A2','n2','2026-01-01T00:00:00Z')) v(Account_Id, account_name, created_at)")
    if fmt == "parquet":
        con.execute(f"COPY t TO '{landing}/crm/accounts.parquet' (FORMAT parquet)")
    elif fmt == "jsonl":
        (landing / "crm" / "accounts.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    else:
        con.execute(f"COPY t TO '{landing}/crm/accounts.csv.gz' (HEADER)")
    (landing / "crm" / "opportunities" / "part-1.ndjson").write_text(
        json.dumps({"opportunity_id": "O1", "account_id": "A1", "created_at": "2026-02-01", "stage": "won"}) + "\n")
    (landing / "crm" / "opportunities" / "part-2.parquet").write_bytes(b"")  # unreadable part: see below


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv.gz"])
def test_formats_and_folders(tmp_path: Path, fmt: str) -> None:
    landing = tmp_path / "l"
    _minimal(landing, fmt)
    (landing / "crm" / "opportunities" / "part-2.parquet").unlink()
    con = duckdb.connect()
    reports = ingest_all(con, landing, "r")
    assert reports["crm/accounts"].rows_kept == 3
    assert reports["crm/opportunities"].files == ["crm/opportunities/part-1.ndjson"]
    assert con.execute("SELECT count(*) FROM raw.crm_opportunities").fetchone()[0] == 1


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    landing = tmp_path / "l"
    _minimal(landing, "jsonl")
    with pytest.raises(LandingError, match=r"crm/opportunities: file crm/opportunities/part-2.parquet cannot be read"):
        ingest_all(duckdb.connect(), landing, "r")


def test_missing_required_entity(tmp_path: Path) -> None:
    landing = tmp_path / "l"
    (landing / "crm").mkdir(parents=True)
    (landing / "crm" / "accounts.csv").write_text("account_id,account_name,created_at\nA1,a,2026-01-01\n")
    with pytest.raises(LandingError, match=r"crm/opportunities: required entity has no file.*opportunity_id"):
        ingest_all(duckdb.connect(), landing, "r")


def test_missing_required_column_lists_what_is_expected(tmp_path: Path) -> None:
    landing = tmp_path / "l"
    (landing / "crm").mkdir(parents=True)
    (landing / "crm" / "accounts.csv").write_text("account_id,name\nA1,a\n")
    with pytest.raises(LandingError) as err:
        Ingestor(duckdb.connect(), landing, "r").ingest("crm/accounts")
    message = str(err.value)
    assert "crm/accounts.csv lacks required column(s) account_name, created_at" in message
    assert "it has account_id, name" in message and "the contract expects account_id, account_name" in message


def test_too_many_rejected_rows_fail_with_reasons(tmp_path: Path) -> None:
    landing = tmp_path / "l"
    (landing / "crm").mkdir(parents=True)
    rows = "".join(f"A{i},a,{'bad' if i < 2 else '2026-01-01'}\n" for i in range(20))
    (landing / "crm" / "accounts.csv").write_text("account_id,account_name,created_at\n" + rows)
    with pytest.raises(LandingError, match=r"crm/accounts: 2 of 20 rows rejected \(10.0%.*created_at type"):
        Ingestor(duckdb.connect(), landing, "r").ingest("crm/accounts")


def test_no_row_is_dropped_by_dialect_guessing(tmp_path: Path) -> None:
    """A value that looks like a comment, and JSON values that look like dates or numbers, stay as they were."""
    landing = tmp_path / "l"
    (landing / "crm").mkdir(parents=True)
    (landing / "crm" / "accounts.csv").write_text(
        "account_id,account_name,created_at\n#1,hash,2026-01-01\nA2,b,2026-01-01\n")
    (landing / "crm" / "opportunities.jsonl").write_text(
        json.dumps({"opportunity_id": "007", "account_id": "#1", "created_at": "2026-01-01T10:00:00+02:00",
                    "stage": "2026-01-01"}) + "\n")
    con = duckdb.connect()
    reports = ingest_all(con, landing, "r")
    assert reports["crm/accounts"].rows_kept == 2
    row = con.execute("SELECT opportunity_id, stage, created_at FROM raw.crm_opportunities").fetchone()
    assert row[:2] == ("007", "2026-01-01") and str(row[2]) == "2026-01-01 08:00:00"


def test_values_are_trimmed_and_blank_is_missing(tmp_path: Path) -> None:
    """Spaces around a value go; a value of only spaces, or a quoted empty one, is missing."""
    landing = tmp_path / "l"
    (landing / "crm").mkdir(parents=True)
    filler = "".join(f"F{i},f,2026-01-01,EMEA\n" for i in range(40))
    (landing / "crm" / "accounts.csv").write_text(
        'account_id,account_name,created_at,region\n A1 , Acme  Inc ,2026-01-01,   \nA2,b,2026-01-01,""\n'
        '"   ",c,2026-01-01,EMEA\n' + filler)
    con = duckdb.connect()
    Ingestor(con, landing, "r").ingest("crm/accounts")
    assert con.execute("SELECT account_id, account_name, region FROM raw.crm_accounts WHERE account_id LIKE 'A%' "
                       "ORDER BY 1").fetchall() == [("A1", "Acme  Inc", None), ("A2", "b", None)]
    assert con.execute("SELECT reason FROM raw.quarantine").fetchall() == [("account_id is missing",)]


@pytest.mark.parametrize("text, utc", [
    ("2026-01-01 10:00:00", "2026-01-01 10:00:00"), ("2026-1-5T3:04", "2026-01-05 03:04:00"),
    ("2026-01-01T10:00:00.25", "2026-01-01 10:00:00.25"), ("2026-01-01", "2026-01-01 00:00:00"),
    ("2026-01-01T10:00:00+02:00", "2026-01-01 08:00:00"), ("2026-01-01 10:00:00-0500", "2026-01-01 15:00:00"),
    ("2026-01-01T10:00:00Z", "2026-01-01 10:00:00"), ("2026-01-01 10:00:00 America/New_York", "2026-01-01 15:00:00"),
    ("01/02/2026", None)])
def test_timestamps_without_a_zone_are_utc_and_offsets_are_applied(text: str, utc: str | None) -> None:
    """Times without a zone take the fast plain parse; any zone or offset goes through TIMESTAMPTZ to UTC."""
    from pipelines.contract_rules import parse
    from schemas.contract import Column

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    value = con.execute(f"SELECT CAST({parse(Column('t', 'timestamp'), '?')} AS VARCHAR)", [text] * 3).fetchone()[0]
    assert value == utc


def test_a_rate_file_that_lists_usd_repeats_no_row(tmp_path: Path) -> None:
    """USD is 1 whether or not reference/fx_rates lists it (a listed USD once joined every USD row twice)."""
    landing = tmp_path / "l"
    (landing / "crm").mkdir(parents=True)
    (landing / "reference").mkdir()
    (landing / "crm" / "accounts.csv").write_text("account_id,account_name,created_at\nA1,a,2026-01-01\n")
    (landing / "crm" / "opportunities.csv").write_text(
        "opportunity_id,account_id,created_at,stage,amount,currency\n"
        "O1,A1,2026-01-01,won,10,USD\nO2,A1,2026-01-01,won,10,\nO3,A1,2026-01-01,won,10,eur\n")
    (landing / "reference" / "fx_rates.csv").write_text("currency,rate_to_usd\nUSD,1.0\nEUR,1.1\n")
    con = duckdb.connect()
    ingest_all(con, landing, "r")
    assert con.execute("SELECT opportunity_id, amount_usd FROM raw.crm_opportunities ORDER BY 1").fetchall() == [
        ("O1", 10.0), ("O2", 10.0), ("O3", 11.0)]


def test_a_nulled_value_is_null_in_every_column_derived_from_it(tmp_path: Path) -> None:
    """A negative opportunity amount is nulled, and so is its USD amount (no longer computed from the bad value);
    a rate missing for such a row does not reject it, since it has no amount to convert."""
    landing = tmp_path / "landing"
    (landing / "crm").mkdir(parents=True)
    (landing / "crm" / "accounts.csv").write_text("account_id,account_name,created_at\nA1,Acme,2026-01-01\n")
    (landing / "crm" / "opportunities.csv").write_text(
        "opportunity_id,account_id,created_at,stage,amount,currency\n"
        "O1,A1,2026-01-01,won,-500,USD\n"
        "O2,A1,2026-01-01,won,-7,XYZ\n"
        "O3,A1,2026-01-01,won,40,USD\n")
    con = duckdb.connect()
    ingest_all(con, landing, "r1")
    rows = con.execute("SELECT opportunity_id, amount, amount_usd FROM raw.crm_opportunities ORDER BY 1").fetchall()
    assert rows == [("O1", None, None), ("O2", None, None), ("O3", 40.0, 40.0)]
    assert con.execute("SELECT primary_key, severity, rule FROM raw.quarantine ORDER BY 1").fetchall() == [
        ("O1", "nulled", "range"), ("O2", "nulled", "range")]


def test_a_date_outside_plausible_years_is_a_range_problem(tmp_path: Path) -> None:
    """A typing slip (2999 for 2025) would move every as-of figure and cannot be held by pandas: nulled when the
    column is optional, the row rejected when it is required."""
    landing = tmp_path / "landing"
    (landing / "crm").mkdir(parents=True)
    (landing / "crm" / "accounts.csv").write_text("account_id,account_name,created_at\nA1,Acme,2026-01-01\n"
                                                  "A2,Beta,2999-01-01\n"
                                                  + "".join(f"B{i},Co,2026-01-01\n" for i in range(30)))
    (landing / "crm" / "opportunities.csv").write_text("opportunity_id,account_id,created_at,stage,close_date\n"
                                                       "O1,A1,2026-01-01,won,1066-10-14\n")
    con = duckdb.connect()
    ingest_all(con, landing, "r1")
    assert con.execute("SELECT primary_key, column_name, severity, rule, reason FROM raw.quarantine ORDER BY 1"
                       ).fetchall() == [
        ("A2", "created_at", "rejected", "range", "created_at 2999-01-01 is outside the years 1800 to 2199"),
        ("O1", "close_date", "nulled", "range", "close_date 1066-10-14 is outside the years 1800 to 2199")]
    assert con.execute("SELECT close_date FROM raw.crm_opportunities").fetchall() == [(None,)]
