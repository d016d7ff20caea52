"""Tell people a refresh failed: a clear log line, and a JSON POST to a webhook when one is configured."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


def failure_message(run_id: str, job: str, step: str | None, error: str | None) -> str:
    where = f" in step {step}" if step else ""
    return (f"ICP refresh failed{where} (job {job}, run {run_id}); the previous publication is unchanged. "
            f"Cause: {error or 'see the run in the Dagster UI'}")


def post_webhook(url: str, message: str, payload: dict, timeout: float = 10.0) -> str | None:
    """POST {"text": message, **payload} as JSON; returns None on success, else why it failed (never raises)."""
    body = json.dumps({"text": message, **payload}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return None if 200 <= response.status < 300 else f"webhook answered HTTP {response.status}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"webhook {url} failed: {exc}"
