"""A mapping file is data, not code with the machine's rights: each attack is refused before anything runs, or
is harmless; landing files that link out of the landing folder are refused; user text is never a template."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from pipelines.icp.attributes import Encoding, level_exprs
from pipelines.ingest import LandingError, ingest_all
from pipelines.mapping import MappingError, load_mapping
from pipelines.mapping_sandbox import sandbox

ACCOUNTS = "id,name,created\n1,Acme,2025-01-01\n2,Beta,2025-02-01\n"
OPPS = "id,acct,created,stage\no1,1,2025-01-01,won\n"
MAPPING = """entities:
  crm/accounts:
    files: a.csv
    columns: {{account_id: id, account_name: {name}, created_at: created}}
  crm/opportunities:
    files: o.csv
    columns: {{opportunity_id: id, account_id: acct, created_at: created, stage: stage}}
"""


def _landing(tmp_path: Path, name_spec: str) -> Path:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_text(ACCOUNTS)
    (landing / "o.csv").write_text(OPPS)
    (landing / "icp-mapping.yaml").write_text(MAPPING.format(name=name_spec))
    return landing


@pytest.mark.parametrize("sql, why", [
    # read a file: a subquery, or a table function, or a file-reading scalar function
    ("(SELECT content FROM read_text('/etc/passwd'))", "a subquery is not allowed"),
    ("name FROM read_csv('/etc/passwd')", "not one expression"),
    ("current_setting('home_directory')", "the function current_setting"),
    ("getvariable('x')", "the function getvariable"),
    # write a file: a second statement, or one smuggled past a closing parenthesis
    ("name; COPY (SELECT 1) TO '{out}'", "2 statements"),
    ("name); COPY (SELECT 1) TO '{out}'; SELECT (1", "not a SQL expression"),
    # other ways out of one expression
    ("count(*) OVER ()", "a window or aggregate function"),
    ("name AS other", "an alias"),
    ("system.main.lower(name)", "a qualified function"),
])
def test_mapping_sql_that_is_not_one_allowed_expression_is_refused_before_anything_runs(
        tmp_path: Path, sql: str, why: str) -> None:
    out = tmp_path / "pwned.csv"
    landing = _landing(tmp_path, '"' + sql.format(out=out).replace('"', '\\"') + '"')
    landing.joinpath("icp-mapping.yaml").write_text(
        landing.joinpath("icp-mapping.yaml").read_text().replace("account_name: \"", "account_name: {sql: \"")
        .replace("\", created_at", "\"}, created_at"))
    with pytest.raises(MappingError) as err:
        load_mapping(landing / "icp-mapping.yaml")
    message = str(err.value)
    assert message.startswith(f"{landing / 'icp-mapping.yaml'}: entities.crm/accounts.columns.account_name.sql: ")
    assert why in message, message
    assert not out.exists()


def test_where_and_account_match_sql_are_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "icp-mapping.yaml"
    path.write_text("entities:\n  billing/subscriptions:\n    files: s.csv\n"
                    "    where: {sql: \"(SELECT true)\"}\n")
    with pytest.raises(MappingError, match=r"entities.billing/subscriptions.where.sql: a subquery is not allowed"):
        load_mapping(path)
    path.write_text("entities:\n  billing/subscriptions:\n    files: s.csv\n"
                    "    account: {email: {sql: \"read_text('/etc/passwd')\"}}\n")
    with pytest.raises(MappingError, match=r"entities.billing/subscriptions.account.email.sql: the function "
                                           r"read_text"):
        load_mapping(path)


def test_braces_in_mapping_sql_and_in_values_are_plain_text(tmp_path: Path) -> None:
    landing = _landing(tmp_path, "{sql: \"'{x} ' || name || ' {0}'\"}")
    con = duckdb.connect()
    ingest_all(con, landing, "r1", load_mapping(landing / "icp-mapping.yaml"))
    assert con.execute("SELECT account_name FROM raw.crm_accounts ORDER BY 1").fetchall() == [
        ("{x} Acme {0}",), ("{x} Beta {0}",)]


def test_the_sandbox_reads_only_the_files_it_was_given(tmp_path: Path) -> None:
    given = tmp_path / "given.csv"
    given.write_text("a\n1\n")
    other = tmp_path / "other.csv"
    other.write_text("a\n2\n")
    con = sandbox([given])
    assert con.execute(f"SELECT a FROM read_csv('{given}')").fetchall() == [(1,)]
    for attack in (f"SELECT * FROM read_csv('{other}')", "SELECT * FROM read_text('/etc/passwd')",
                   f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'", f"ATTACH '{tmp_path / 'x.duckdb'}'"):
        with pytest.raises(duckdb.PermissionException):
            con.execute(attack)
    with pytest.raises(duckdb.InvalidInputException, match="locked"):
        con.execute("SET enable_external_access = true")
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize("mapped", [False, True])
def test_a_landing_file_that_links_out_of_the_landing_folder_is_refused(tmp_path: Path, mapped: bool) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("account_id,account_name,created_at\nS1,Secret,2025-01-01\n")
    landing = _landing(tmp_path, "name")
    (landing / "crm").mkdir()
    if mapped:
        (landing / "a.csv").unlink()
        os.symlink(secret, landing / "a.csv")
        mapping = load_mapping(landing / "icp-mapping.yaml")
    else:
        (landing / "icp-mapping.yaml").unlink()
        os.symlink(secret, landing / "crm" / "accounts.csv")
        mapping = None
    with pytest.raises(LandingError, match=r"is a link to .*secret.csv, outside it"):
        ingest_all(duckdb.connect(), landing, "r1", mapping)


def test_category_values_with_braces_and_quotes_give_their_own_level() -> None:
    """Level SQL (published as fit_attributes.level_sql, which `icp explain` runs) is built without templating."""
    enc = Encoding(industries=("{tokens}", "it's", "{0}"), employee_edges=(), revenue_edges=(), regions=(),
                   lead_sources=(), technologies=("Salesforce",))
    exprs = level_exprs(enc)
    con = duckdb.connect()
    con.execute("CREATE TABLE account_features AS SELECT * FROM (VALUES ('{tokens}', 'salesforce; x'), "
                "('it''s', NULL), ('{0}', 'y')) t(industry, technologies)")
    rows = con.execute(f"SELECT {exprs['industry']}, {exprs['tech_0']} FROM account_features").fetchall()
    assert rows == [("industry = {tokens}", "uses Salesforce"), ("industry = it's", "no Salesforce"),
                    ("industry = {0}", "no Salesforce")]


def test_a_mapping_file_that_links_out_of_the_landing_folder_is_refused(tmp_path: Path) -> None:
    from pipelines.mapping import mapping_for

    landing = tmp_path / "landing"
    landing.mkdir()
    os.symlink("/etc/passwd", landing / "icp-mapping.yaml")
    with pytest.raises(MappingError, match=r"icp-mapping.yaml in the landing folder .* is a link to /etc/passwd"):
        mapping_for(landing)
