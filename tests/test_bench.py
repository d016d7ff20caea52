"""The benchmark's reading of a refresh (the timed runs themselves are `make bench`, not tests)."""
from __future__ import annotations

from pipelines.paths import Paths


def test_every_stage_of_a_refresh_has_its_time(refreshed_home: Paths) -> None:
    """Each stage of the bench table maps onto the refresh's Dagster steps: none reads 0 s."""
    from benchmarks.refresh import STAGES, stage_seconds

    seconds = stage_seconds(refreshed_home.home)
    assert set(seconds) == set(STAGES) and all(s > 0 for s in seconds.values()), seconds
