"""The refresh lock as a Dagster resource: a run of the refresh job holds its home's lock from its first step to
its last, whoever started it (`icp refresh`, the schedule, the sensor, the Dagster UI), so two refreshes of one
home never overlap. A run that finds the lock taken waits for it (schedule.lock_wait_seconds of icp.yaml), then
ends with a message that names the refresh holding it."""
from contextlib import contextmanager
from typing import Iterator, Optional

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

from pipelines.config import load_config
from pipelines.lock import refresh_lock
from pipelines.paths import Paths


class RefreshLock(ConfigurableResource):
    """Held by every step of the refresh job (the in-process executor sets it up once per run)."""

    wait_seconds: Optional[float] = Field(
        None, ge=0, description="seconds to wait for a running refresh (default: schedule.lock_wait_seconds)")

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator["RefreshLock"]:
        wait = self.wait_seconds if self.wait_seconds is not None else load_config().schedule.lock_wait_seconds
        with refresh_lock(Paths.resolve(), wait, context.run_id, on_wait=context.log.warning):
            yield self
