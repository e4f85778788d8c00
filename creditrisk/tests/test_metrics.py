"""GET /metrics: Prometheus text with request, task and decision counters that move."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scoring.models import DriftReport, ScoreRequest
from scoring.services.score_requests import score_request_create
from scoring.tasks import score_request_process_task
from scoring.tests.factories import applicant_inputs, final_score_requests
from tests.httpclient import metric_value

TASK = "scoring.tasks.score_request_process_task"


def scrape(client, **headers) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


@pytest.mark.django_db
def test_metrics_is_prometheus_text_with_the_three_families(client):
    families = {family.name for family in text_string_to_metric_families(scrape(client))}
    assert {"creditrisk_http_requests", "creditrisk_celery_tasks", "creditrisk_decisions"} <= families


@pytest.mark.django_db
def test_requests_are_counted_by_method_route_and_status(client):
    labels = {"method": "GET", "route": "api/v1/models/", "status": "401"}
    before = metric_value(scrape(client), "creditrisk_http_requests_total", **labels)
    for _ in range(3):
        assert client.get("/api/v1/models/").status_code == 401
    assert metric_value(scrape(client), "creditrisk_http_requests_total", **labels) == before + 3


@pytest.mark.django_db
def test_paths_outside_the_url_conf_share_one_label(client):
    before = metric_value(
        scrape(client), "creditrisk_http_requests_total", method="GET", route="unmatched", status="404"
    )
    client.get("/wp-login.php")
    client.get("/no/such/page/12345")
    text = scrape(client)
    assert metric_value(text, "creditrisk_http_requests_total", method="GET", route="unmatched", status="404") == (
        before + 2
    )
    assert "wp-login" not in text and "12345" not in text


@pytest.mark.django_db
def test_an_invented_method_is_counted_as_other(client):
    client.generic("BREW", "/healthz")
    assert (
        metric_value(scrape(client), "creditrisk_http_requests_total", method="other", route="healthz", status="405")
        >= 1
    )


@pytest.mark.django_db
def test_decisions_are_the_final_requests_counted_by_decision_and_channel(client, active_version):
    final_score_requests(active_version, 4)
    # Queued, not decided yet: not counted (on_commit never fires in this test, so it stays queued).
    score_request_create(inputs=applicant_inputs(seed=99)[0], requested_by=None, channel=ScoreRequest.Channel.UI)
    text = scrape(client)
    assert 'channel="ui"' not in text
    for decision in ("approve", "decline"):
        expected = ScoreRequest.objects.filter(status="done", decision=decision, channel="api").count()
        assert metric_value(text, "creditrisk_decisions_total", decision=decision, channel="api") == expected
    assert (
        sum(metric_value(text, "creditrisk_decisions_total", decision=d, channel="api") for d in ("approve", "decline"))
        == 4
    )


@pytest.mark.django_db
def test_task_outcomes_are_counted_by_task_name(client, active_version):
    [request] = final_score_requests(active_version, 1)
    before = metric_value(scrape(client), "creditrisk_celery_tasks_total", task=TASK, outcome="succeeded")
    score_request_process_task.apply(args=(str(request.pk),))  # runs the task here, with Celery's signals
    score_request_process_task.apply(args=("00000000-0000-0000-0000-000000000000",))  # a dropped message
    after = metric_value(scrape(client), "creditrisk_celery_tasks_total", task=TASK, outcome="succeeded")
    assert after == before + 2


@pytest.mark.django_db
def test_a_failing_task_is_counted_as_failed(client, monkeypatch):
    def broken(**_):
        raise RuntimeError("the model file is unreadable")

    monkeypatch.setattr("scoring.tasks.score_request_process", broken)
    before = metric_value(scrape(client), "creditrisk_celery_tasks_total", task=TASK, outcome="failed")
    result = score_request_process_task.apply(args=("00000000-0000-0000-0000-000000000001",))
    assert result.failed()
    assert metric_value(scrape(client), "creditrisk_celery_tasks_total", task=TASK, outcome="failed") == before + 1


@pytest.mark.django_db
def test_with_a_token_set_metrics_need_it(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "creditrisk_decisions_total" in scrape(client, HTTP_AUTHORIZATION="Bearer scrape-secret")


@pytest.mark.django_db
def test_metrics_carry_no_secret_or_personal_value(client, settings, active_version):
    settings.METRICS_TOKEN = "scrape-secret"
    final_score_requests(active_version, 2)
    text = scrape(client, HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert settings.SECRET_KEY not in text and "scrape-secret" not in text
    assert "postgres://" not in text and "redis://" not in text
    ours = [family for family in text_string_to_metric_families(text) if family.name.startswith("creditrisk_")]
    labels = {name for family in ours for sample in family.samples for name in sample.labels}
    assert labels <= {"method", "route", "status", "task", "outcome", "decision", "channel"}


@pytest.mark.django_db
def test_drift_gauges_are_the_latest_periodic_report(client, drift_version):
    from scoring.tasks import drift_report_task

    drift_report_task()  # no decisions yet: a report with no rows, and no gauge that would read "stable"
    assert 'creditrisk_drift_psi{input="score"}' not in scrape(client)
    DriftReport.objects.all().delete()
    final_score_requests(drift_version, 3)
    drift_report_task()
    stored = DriftReport.objects.get()
    text = scrape(client)
    assert metric_value(text, "creditrisk_drift_psi", input="score") == pytest.approx(stored.score_psi)
    by_name = {row["name"]: row["psi"] for row in stored.report["inputs"]}
    assert metric_value(text, "creditrisk_drift_psi", input="AGE") == pytest.approx(by_name["AGE"])
    assert by_name["AGE"] > 0  # three applicants cannot fill ten age bins as the development rows did
    assert metric_value(text, "creditrisk_drift_report_rows") == 3
    assert metric_value(text, "creditrisk_drift_report_timestamp_seconds") == pytest.approx(
        stored.created_at.timestamp()
    )
