"""Tell people a refresh failed, or published with a warning: a clear log line, and a JSON POST to a webhook when
one is configured.

A webhook URL often embeds its secret (Slack, Teams): no message here ever contains it, and only http(s) URLs
are posted to (a `file:` URL would make urllib read a local file).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

WEBHOOK_SCHEMES = ("http", "https")


def failure_message(run_id: str, job: str, step: str | None, error: str | None, publication: str) -> str:
    """The alert's text; `publication` says in words what BI tools read now (publish.publication_status)."""
    where = f" in step {step}" if step else ""
    return (f"ICP refresh failed{where} (job {job}, run {run_id}); {publication}. "
            f"Cause: {error or 'see the run in the Dagster UI'}")


def warning_message(run_id: str, job: str, warning: str) -> str:
    """The text of a warning about a refresh that published (job `job`, run `run_id`)."""
    return f"ICP refresh published with a warning (job {job}, run {run_id}): {warning}"


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook (not http or https, no host), or None; never repeats the URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in WEBHOOK_SCHEMES or not parts.netloc:
        return "alerts.webhook_url must be an http:// or https:// URL with a host"
    return None


def post_webhook(url: str, message: str, payload: dict, timeout: float = 10.0) -> str | None:
    """POST {"text": message, **payload} as JSON; returns None on success, else why it failed (never raises, and
    never names the URL)."""
    problem = webhook_url_problem(url)
    if problem:
        return f"the failure alert was not posted: {problem}"
    body = json.dumps({"text": message, **payload}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return None if 200 <= response.status < 300 else f"the webhook answered HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"the webhook answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"posting to the webhook (alerts.webhook_url) failed: {type(exc).__name__}: {reason}"
