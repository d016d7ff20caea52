"""What a failed Dagster step says went wrong, in one line for people (the CLI and the failure alert)."""


def step_failure_cause(event) -> str | None:
    """What a STEP_FAILURE event says went wrong: a Failure's description (ingest errors name the entity and
    file), else the error the step itself raised."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    err = data.error
    while err is not None and err.cause is not None and "StepExecutionError" in (err.cls_name or ""):
        err = err.cause  # Dagster's wrapper: show what the step itself raised
    return f"{err.cls_name}: {err.message.strip()}" if err else None
