"""Scoring in the engine: dbt's scoring models score every account as the fitted Python scorecard does, and the fit
learns from a bounded, deterministic sample."""
from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.config import load_config
from pipelines.icp import backtest as bt
from pipelines.icp.attributes import FEATURES, level_codes
from pipelines.icp.fit import engagement_score
from pipelines.icp.inputs import FIT_ACCOUNTS, choose_fit_accounts
from pipelines.icp.model import fit_icp
from pipelines.icp.scorecard import declared_size_rule, score, scored_groups
from pipelines.paths import Paths
from pipelines.warehouse import frame, warehouse


def test_the_engine_scores_every_account_as_the_fitted_scorecard(refreshed_home: Paths, tmp_path: Path) -> None:
    """The fit run again on a copy of the refreshed home gives the same model; applied in numpy to every account it
    gives dbt's fit_score, fit_probability, tiers and priority (both rounded as numpy rounds) and the same target list
    in the same order; the segment rules put every customer where the fit's tree did; every account's reasons add up
    to its rounded score."""
    home = tmp_path / "home"
    shutil.copytree(refreshed_home.home, home, symlinks=True)
    paths = Paths.resolve(home, refreshed_home.landing)
    cfg = load_config()
    with warehouse(paths) as con:
        sql = frame(con, "SELECT * FROM scoring.account_scores ORDER BY account_id")
        ranked = con.execute("SELECT account_id FROM scoring.target_accounts ORDER BY rank").fetchnumpy()["account_id"]
        fit = fit_icp(con, cfg, datetime(2026, 1, 1))
        size = declared_size_rule(cfg.declared_icp) if "declared_size" in scored_groups(fit.card) else None
        codes = level_codes(con, fit.card.encoding, size, FEATURES)
        features = frame(con, f"SELECT engagement_points, open_opportunities FROM {FEATURES} ORDER BY account_id")
        thresholds = list(con.execute("SELECT tier_a, tier_b, tier_c FROM fit.model").fetchone())
    assert fit.model_version == sql["model_version"].iloc[0]  # deterministic: the same data, the same model

    python = score(fit.card, codes, cfg.scoring.scale)
    assert len(sql) == len(python.fit_score) == 4000
    assert np.abs(python.fit_score - sql["fit_score"]).max() <= 1e-9
    assert np.allclose(python.probability, sql["fit_probability"], rtol=1e-9)
    assert (bt.tier_of(python.fit_score, thresholds) == sql["fit_tier"]).all()
    w = cfg.scoring.engagement_weight
    priority = np.round((1 - w) * python.fit_score + w * engagement_score(features).to_numpy(), 2)
    assert np.abs(priority - sql["priority_score"]).max() <= 1e-9

    wanted = sql["lifecycle"].eq("prospect") | (sql["lifecycle"].eq("churned") & cfg.scoring.winback)
    rows = np.flatnonzero((wanted & sql["score_status"].ne("disqualified")).to_numpy())
    order = rows[np.lexsort((rows, -python.fit_score[rows], -priority[rows]))]
    assert len(ranked) > 1000 and (sql["account_id"].to_numpy()[order] == ranked).all()

    # The segment rules in SQL put every customer where the fit's tree did: the segments' customer counts (the fit's)
    # are the engine's.
    with warehouse(paths, read_only=True) as con:
        counts = con.execute("""SELECT g.segment_id, g.n_customers, count(s.account_id)
                                FROM scoring.icp_segments g LEFT JOIN scoring.account_scores s
                                  ON s.segment_id = g.segment_id AND s.lifecycle IN ('customer', 'churned')
                                GROUP BY ALL""").fetchall()
    assert len(counts) > 1 and all(fit_count == engine_count for _, fit_count, engine_count in counts), counts

    for reasons, fit_score in sql[["reasons", "fit_score"]].itertuples(index=False):
        numbers = [int(n) for n in re.findall(r"\(([+-]\d+)\)", reasons)] + [int(reasons.rsplit("baseline ", 1)[1])]
        assert sum(numbers) == np.floor(fit_score + 0.5), reasons


def test_the_fit_samples_accounts_with_an_outcome_by_kind_and_deterministically() -> None:
    """Above model.max_fit_accounts the fit learns from the same share of customers, winners and lost accounts,
    always the same accounts for a seed; below it, from all of them."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    n = 20_000
    rng = np.random.default_rng(0)
    kind = rng.choice(["customer", "won", "lost", "prospect"], n, p=[0.1, 0.05, 0.45, 0.4])
    con.register("f", pd.DataFrame({
        "account_id": [f"A{i:05d}" for i in range(n)],
        "lifecycle": np.where(kind == "customer", "customer", "prospect"),
        "won_deals": (kind == "won").astype(int), "lost_deals": (kind == "lost").astype(int)}))
    con.execute(f"CREATE TABLE {FEATURES} AS SELECT * FROM f")

    def sample(cap: int, seed: int) -> pd.DataFrame:
        choose_fit_accounts(con, cap, seed)
        return con.execute(f"""SELECT s.account_id, s.held_out, f.lifecycle, f.won_deals FROM {FIT_ACCOUNTS} s
                               JOIN {FEATURES} f USING (account_id) ORDER BY account_id""").df()

    everyone = sample(100_000, 42)
    assert len(everyone) == int((kind != "prospect").sum())
    small = sample(3_000, 42)
    assert 2_990 <= len(small) <= 3_010 and small["account_id"].is_monotonic_increasing
    share = small["lifecycle"].eq("customer").mean()
    assert abs(share - everyone["lifecycle"].eq("customer").mean()) < 0.005
    assert abs(small["won_deals"].mean() - everyone["won_deals"].mean()) < 0.005
    assert small.equals(sample(3_000, 42)) and not small["account_id"].equals(sample(3_000, 7)["account_id"])
    assert 0.45 < everyone["held_out"].mean() < 0.55
