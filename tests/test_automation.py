"""The nightly schedule, the landing sensor and the failure alert, through Dagster's test contexts."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, RunRequest, SkipReason, build_run_status_sensor_context, build_schedule_context, build_sensor_context

from pipelines.demo import generate
from pipelines.paths import Paths


def test_nightly_schedule_requests_a_refresh() -> None:
    from dagster_project.automation import nightly_refresh

    assert nightly_refresh.cron_schedule == "0 2 * * *"
    assert nightly_refresh.default_status.value == "RUNNING"
    with DagsterInstance.ephemeral() as instance:
        result = nightly_refresh.evaluate_tick(build_schedule_context(instance=instance))
    assert len(result.run_requests) == 1


def test_landing_sensor_fires_on_new_or_changed_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_project.automation import landing_files_sensor

    landing = tmp_path / "landing"
    generate(landing, accounts=50, seed=1)
    monkeypatch.setenv("ICP_LANDING_DIR", str(landing))
    with DagsterInstance.ephemeral() as instance:
        first = landing_files_sensor(build_sensor_context(instance=instance))
        assert isinstance(first, RunRequest)
        ctx = build_sensor_context(instance=instance, cursor=first.run_key.removeprefix("landing-"))
        assert isinstance(landing_files_sensor(ctx), SkipReason)
        (landing / "crm" / "contacts.csv").write_text("contact_id,account_id,created_at\n")
        changed = landing_files_sensor(build_sensor_context(instance=instance, cursor=ctx.cursor))
        assert isinstance(changed, RunRequest) and changed.run_key != first.run_key
    assert landing_files_sensor.minimum_interval_seconds == 600


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_failed_run_is_reported_to_the_webhook(tmp_path: Path) -> None:
    from dagster_project.refresh import run_refresh

    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "icp.yaml").write_text(f"alerts:\n  webhook_url: http://127.0.0.1:{server.server_port}/hook\n")
    landing = tmp_path / "landing"
    (landing / "crm").mkdir(parents=True)
    (landing / "crm" / "accounts.csv").write_text("account_id,account_name,created_at\nA1,a,2026-01-01\n")
    paths = Paths.resolve(tmp_path / "home", landing)
    try:
        outcome = run_refresh(paths, config=tmp_path / "icp.yaml")
        assert not outcome.success
        from dagster_project.automation import refresh_failure_alert

        with paths.exported(tmp_path / "icp.yaml"), DagsterInstance.get() as instance:
            run = instance.get_run_by_id(outcome.run_id)
            failure = instance.all_logs(outcome.run_id, of_type=DagsterEventType.RUN_FAILURE)[0].dagster_event
            context = build_run_status_sensor_context(
                sensor_name="refresh_failure_alert", dagster_instance=instance, dagster_run=run,
                dagster_event=failure).for_run_failure()
            refresh_failure_alert(context)
    finally:
        server.shutdown()
    assert len(_Hook.received) == 1
    text = _Hook.received[0]["text"]
    assert outcome.run_id in text and "step ingest" in text and "crm/opportunities: required entity has no file" in text
    assert "nothing is published in this home yet" in text  # not "the previous publication is unchanged"


def test_the_alert_says_what_is_live(refreshed_home: Paths) -> None:
    from pipelines.publish import publication_status

    live = refreshed_home.serving.resolve().name
    assert publication_status(refreshed_home, "another-run") == f"the previous publication ({live}) is still live, " \
                                                               "unchanged"
    assert publication_status(refreshed_home, live) == f"this refresh's publication ({live}) is live"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/x", "javascript:alert(1)", "http:///no-host"])
def test_the_webhook_takes_only_http_urls(tmp_path: Path, url: str) -> None:
    from pipelines.alerts import post_webhook
    from pipelines.config import ConfigError, load_config

    problem = post_webhook(url, "m", {})
    assert problem == "the failure alert was not posted: alerts.webhook_url must be an http:// or https:// URL " \
                      "with a host"
    (tmp_path / "icp.yaml").write_text(f"alerts:\n  webhook_url: '{url}'\n")
    with pytest.raises(ConfigError, match="alerts.webhook_url must be an http") as err:
        load_config(tmp_path / "icp.yaml")
    assert url not in str(err.value)


def test_a_failed_webhook_post_never_shows_its_url() -> None:
    from pipelines.alerts import post_webhook

    server = HTTPServer(("127.0.0.1", 0), _Hook)
    port = server.server_port
    server.server_close()  # nothing listens there now
    secret = f"http://127.0.0.1:{port}/services/T000/B000/s3cr3t-token"
    problem = post_webhook(secret, "m", {}, timeout=2)
    assert problem is not None and "s3cr3t-token" not in problem and str(port) not in problem


def test_a_target_list_emptied_by_the_rules_is_published_and_said_everywhere(tmp_path: Path) -> None:
    """Exclusions that leave out every prospect: the refresh still publishes, and the command's warnings, the
    target_accounts metadata in Dagster, model_evaluation, the report and the alert webhook say why, rule by
    rule."""
    import csv

    from dagster import AssetKey, DagsterRunStatus

    from dagster_project.automation import refresh_warning_alert
    from dagster_project.refresh import run_refresh
    from tests.conftest import read

    generate(tmp_path / "landing", accounts=400, seed=5)
    with open(tmp_path / "landing" / "crm" / "accounts.csv", newline="") as fh:
        names = sorted({row["account_name"] for row in csv.DictReader(fh)})
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "icp.yaml"
    config.write_text(f"alerts:\n  webhook_url: http://127.0.0.1:{server.server_port}/hook\n"
                      "exclude:\n  account_names:\n" + "".join(f"    - {name!r}\n" for name in names))
    paths = Paths.resolve(tmp_path / "home", tmp_path / "landing")
    _Hook.received.clear()
    try:
        outcome = run_refresh(paths, config=config)
        assert outcome.success, outcome.error
        with paths.exported(config), DagsterInstance.get() as instance:
            run = instance.get_run_by_id(outcome.run_id)
            success = instance.all_logs(outcome.run_id, of_type=DagsterEventType.RUN_SUCCESS)[0].dagster_event
            refresh_warning_alert(build_run_status_sensor_context(
                sensor_name="refresh_warning_alert", dagster_instance=instance, dagster_run=run,
                dagster_event=success))
            event = instance.get_latest_materialization_event(AssetKey(["scoring", "model_evaluation"]))
    finally:
        server.shutdown()
    assert run.status == DagsterRunStatus.SUCCESS
    assert read(paths, "SELECT count(*) FROM target_accounts")[0][0] == 0
    said = [w for w in outcome.warnings if w.startswith("TARGET LIST IS EMPTY")]
    assert len(said) == 1 and "excluded by icp.yaml (exclude:): " in said[0]
    assert read(paths, "SELECT target_list_warning FROM model_evaluation")[0][0] == said[0]
    assert "TARGET LIST IS EMPTY" in (paths.reports / "icp-report.html").read_text()
    assert event.asset_materialization.metadata["target_list_warning"].value == said[0]
    assert [(h["level"], h["run_id"]) for h in _Hook.received] == [("warning", outcome.run_id)]
    assert _Hook.received[0]["text"].endswith(said[0])
