"""Automation of the refresh: the nightly schedule, a sensor on new landing files, failure alerts, and warning
alerts for a refresh that published a collapsed target list."""
import duckdb
from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from pipelines.alerts import failure_message, post_webhook, warning_message
from pipelines.config import load_config
from pipelines.landing_files import landing_fingerprint
from pipelines.paths import Paths
from pipelines.publish import publication_status

from dagster_project.jobs import icp_refresh
from dagster_project.step_failure import step_failure_cause

_cfg = load_config()

nightly_refresh = ScheduleDefinition(
    name="nightly_refresh",
    job=icp_refresh,
    cron_schedule=_cfg.schedule.cron,
    execution_timezone=_cfg.schedule.timezone,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Refresh the ICP every night (cron and timezone from icp.yaml `schedule`).",
)


@sensor(job=icp_refresh, minimum_interval_seconds=_cfg.schedule.sensor_min_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description="Starts a refresh when landing files are added, removed or changed (checked at most every "
                    "`schedule.sensor_min_interval_seconds` of icp.yaml).")
def landing_files_sensor(context: SensorEvaluationContext):
    landing = Paths.resolve().landing
    fingerprint = landing_fingerprint(landing)
    if fingerprint == context.cursor:
        return SkipReason(f"no new or changed files in {landing}")
    context.update_cursor(fingerprint)
    return RunRequest(run_key=f"landing-{fingerprint}", tags={"icp/trigger": "landing-files"})


@run_failure_sensor(monitored_jobs=[icp_refresh], default_status=DefaultSensorStatus.RUNNING,
                    description="Logs a clear message when a refresh fails, and posts it to `alerts.webhook_url` "
                                "of icp.yaml when set.")
def refresh_failure_alert(context: RunFailureSensorContext) -> None:
    failed = next(iter(context.get_step_failure_events()), None)
    step = failed.step_key if failed else None
    run_id = context.dagster_run.run_id
    message = failure_message(run_id, context.dagster_run.job_name, step,
                              (step_failure_cause(failed) if failed else None) or context.failure_event.message,
                              publication_status(Paths.resolve(), run_id))
    context.log.error(message)
    url = load_config().alerts.webhook_url
    if url:
        problem = post_webhook(url, message, {"run_id": run_id, "step": step})
        if problem:
            context.log.error(problem)


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[icp_refresh],
                   default_status=DefaultSensorStatus.RUNNING,
                   description="When a refresh published a target list that its rules emptied or cut by more than "
                               "`scoring.max_excluded_share`, logs the warning and posts it to `alerts.webhook_url`.")
def refresh_warning_alert(context: RunStatusSensorContext) -> None:
    paths = Paths.resolve()
    run_id = context.dagster_run.run_id
    if paths.serving.resolve().name != run_id:  # this run's publication is no longer (or not) the live one
        return
    with duckdb.connect(str(paths.serving / "icp.duckdb"), read_only=True) as con:
        warning = con.execute("SELECT any_value(target_list_warning) FROM model_evaluation").fetchone()[0]
    if not warning:
        return
    message = warning_message(run_id, context.dagster_run.job_name, warning)
    context.log.warning(message)
    url = load_config().alerts.webhook_url
    if url:
        problem = post_webhook(url, message, {"run_id": run_id, "level": "warning"})
        if problem:
            context.log.error(problem)
