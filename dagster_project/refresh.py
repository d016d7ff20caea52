"""Run the icp_refresh job in-process against the home's Dagster instance (it shows in the UI's history)."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dagster_project.step_failure import step_failure_cause
from pipelines.paths import Paths

DAGSTER_YAML = """# Written by the ICP engine: a local instance with no telemetry, where refresh runs queue one at a time.
telemetry:
  enabled: false
concurrency:
  runs:
    tag_concurrency_limits:
      - key: "icp/refresh"
        limit: 1
"""


# The terminal shows step progress; the full event log stays in the Dagster UI's run history.
# Warnings of the run are collected from the event log and returned in RefreshOutcome.warnings.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class RefreshOutcome:
    """How a refresh ended: success, the run id, per-step seconds and, on failure, what failed and why."""

    success: bool
    run_id: str
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    failed_step: str | None = None
    error: str | None = None
    log_file: str | None = None
    warnings: list[str] = field(default_factory=list)


def prepare_instance(paths: Paths) -> None:
    """Write the home's dagster.yaml (no telemetry, refresh runs one at a time; Dagster's default storage)."""
    paths.dagster_home.mkdir(parents=True, exist_ok=True)
    cfg = paths.dagster_home / "dagster.yaml"
    if not cfg.exists() or cfg.read_text() != DAGSTER_YAML:
        cfg.write_text(DAGSTER_YAML)


def _failure(result) -> tuple[str | None, str | None]:
    """The failed step and the most useful message: a Failure's description (ingest errors), a failed
    blocking check's description, or the error's own message."""
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION" and not event.event_specific_data.passed:
            evaluation = event.event_specific_data
            if evaluation.description:
                return f"{evaluation.asset_check_key.asset_key.to_user_string()} check " \
                       f"{evaluation.asset_check_key.name}", evaluation.description
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            return event.step_key, step_failure_cause(event)
        if event.event_type_value == "RESOURCE_INIT_FAILURE":  # e.g. another refresh holds the home's lock
            err = event.event_specific_data.error
            return "run start", f"{err.cls_name}: {err.message.split(': ', 1)[-1].strip()}"
    return None, None


def _published(result) -> bool:
    """Whether the run materialized the publication."""
    return any(event.asset_key.to_user_string() == "serving/publication"
               for event in result.get_asset_materialization_events())


def _unpublished(result) -> str:
    """Why a run that raised no error did not publish: Dagster skips the steps whose inputs were not materialized
    (e.g. when a dbt model's events were lost), and a run of skipped steps still ends as a success."""
    skipped = [event.step_key for event in result.all_events if event.event_type_value == "STEP_SKIPPED"]
    return ("the run ended without publishing (the last publication stays as it was)"
            + (f": steps skipped, their inputs not materialized: {', '.join(skipped)}" if skipped else ""))


class _StepWatcher(threading.Thread):
    """Follows a running job's step events in the instance's event log, so progress shows while it runs."""

    def __init__(self, instance, run_id: str, on_event: Callable[[str, str, float], None] | None):
        super().__init__(daemon=True)
        self.instance, self.run_id, self.on_event = instance, run_id, on_event
        self.steps: dict[str, float] = {}
        self._begun: dict[str, float] = {}
        self._cursor: str | None = None
        self._stop_event = threading.Event()

    def poll(self) -> None:
        from dagster import DagsterEventType

        kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
        # Only the step events logged since the last poll: the cursor is the last one read.
        new = self.instance.get_records_for_run(self.run_id, cursor=self._cursor, of_type=kinds)
        self._cursor = new.cursor
        for entry in (record.event_log_entry for record in new.records):
            event = entry.dagster_event
            if event.event_type == DagsterEventType.STEP_START:
                self._begun[event.step_key] = entry.timestamp
            elif event.step_key in self._begun:
                self.steps[event.step_key] = entry.timestamp - self._begun[event.step_key]
                if self.on_event:
                    self.on_event(event.step_key, event.event_type_value, self.steps[event.step_key])

    def run(self) -> None:
        while not self._stop_event.wait(0.5):
            self.poll()

    def finish(self) -> dict[str, float]:
        self._stop_event.set()
        self.join()
        self.poll()
        return self.steps


def run_refresh(paths: Paths, wait_seconds: float | None = None,
                on_event: Callable[[str, str, float], None] | None = None, config: Path | None = None,
                mapping: Path | None = None, engine: str | None = None) -> RefreshOutcome:
    """Run the full refresh once (with `config` as icp.yaml, `mapping` as the source mapping and `engine` as the
    engine when given);
    returns its outcome instead of raising on a pipeline failure. The job takes the home's refresh lock itself
    (dagster_project/refresh_lock.py), waiting `wait_seconds` for it (default: schedule.lock_wait_seconds). The
    process environment is left as it was."""
    prepare_instance(paths)
    started = time.monotonic()
    log_dir = paths.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    lock = {} if wait_seconds is None else {"refresh_lock": {"config": {"wait_seconds": wait_seconds}}}
    with paths.exported(config, mapping, engine):
        return _execute(paths, str(uuid.uuid4()), started, log_dir / "last-refresh.log", on_event,
                        {**QUIET, "resources": lock})


def _execute(paths: Paths, run_id: str, started: float, log_file: Path,
             on_event: Callable[[str, str, float], None] | None, run_config: dict) -> RefreshOutcome:
    from dagster import DagsterInstance

    from dagster_project.definitions import defs

    job = defs.resolve_job_def("icp_refresh")
    # dbt's own console output goes to the log file; the terminal shows step progress only.
    with DagsterInstance.get() as instance, open(log_file, "w") as log, contextlib.redirect_stdout(log):
        watcher = _StepWatcher(instance, run_id, on_event)
        watcher.start()
        try:
            result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config,
                                            run_id=watcher.run_id)
        finally:
            steps = watcher.finish()
        warnings = [e.user_message for e in instance.all_logs(result.run_id)
                    if e.level == logging.WARNING and e.dagster_event is None]
    failed_step, error = (None, None) if result.success else _failure(result)
    success = result.success
    if success and not _published(result):
        success, failed_step, error = False, "serving/publication", _unpublished(result)
    return RefreshOutcome(success, result.run_id, time.monotonic() - started, steps, failed_step, error,
                          str(log_file), warnings)
