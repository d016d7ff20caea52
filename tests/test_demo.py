"""The demo generator: contract-conformant, deterministic by seed, with its planted ICP kept outside."""
from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from pipelines.demo import generate
from pipelines.landing_files import entity_files
from schemas.contract import landing_contract


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    generate(tmp_path / "a" / "landing", accounts=300, seed=3)
    generate(tmp_path / "b" / "landing", accounts=300, seed=3)
    generate(tmp_path / "c" / "landing", accounts=300, seed=4)
    assert _digest(tmp_path / "a" / "landing") == _digest(tmp_path / "b" / "landing")
    assert _digest(tmp_path / "a" / "landing") != _digest(tmp_path / "c" / "landing")


def test_every_entity_with_every_contract_column(tmp_path: Path) -> None:
    summary = generate(tmp_path / "landing", accounts=500, seed=1)
    contract = landing_contract()
    with duckdb.connect() as con:
        for name, entity in contract.entities.items():
            files = entity_files(summary.landing, entity)
            assert len(files) == 1, name
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_csv('{files[0]}')").fetchall()]
            # Optional columns the demo leaves out on purpose: is_won / is_closed (derived from stage),
            # activities' contact_id.
            assert set(cols) <= {c.name for c in entity.columns}, name
            assert set(cols) >= set(entity.required_columns), name
            assert len(cols) >= len(entity.columns) - 2, name
    assert summary.rows["crm/accounts"] == 500
    assert all(n > 0 for n in summary.rows.values())


def test_truth_lies_outside_the_landing_folder(tmp_path: Path) -> None:
    summary = generate(tmp_path / "landing", accounts=2000, seed=2)
    assert not summary.truth.is_relative_to(summary.landing)
    with duckdb.connect() as con:
        counts = dict(con.execute(f"SELECT planted_segment, count(*) FROM read_csv('{summary.truth}') GROUP BY 1").fetchall())
    assert set(counts) == {"icp", "neutral", "anti_icp"}
    assert 0.04 < counts["icp"] / 2000 < 0.2


def test_parquet_format(tmp_path: Path) -> None:
    summary = generate(tmp_path / "landing", accounts=200, seed=5, fmt="parquet")
    assert (summary.landing / "crm" / "accounts.parquet").exists()
    with duckdb.connect() as con:
        assert con.execute(f"SELECT count(*) FROM '{summary.landing}/crm/accounts.parquet'").fetchone()[0] == 200
