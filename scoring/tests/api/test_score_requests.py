import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ml import schema
from ml.scorecard import DECLINE
from scoring.models import AuditChainHead, ScoreRequest
from scoring.services.commits import FLUSH
from scoring.tests.conftest import database_session
from scoring.tests.factories import applicant_inputs

URL = "/api/v1/score-requests/"


@pytest.mark.django_db(transaction=True)
def test_valid_request_is_scored_by_the_worker(api, active_version, celery_worker_process):
    inputs = applicant_inputs(seed=1)[0]
    response = api.post(URL, inputs, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {
        "id",
        "status",
        "probability_bad",
        "score",
        "decision",
        "reasons",
        "model_version",
        "created_at",
    }
    assert body["status"] == "done" and body["model_version"] == "v1"
    assert 0 < body["probability_bad"] < 1 and 300 <= body["score"] <= 850
    assert body["decision"] == ("decline" if body["probability_bad"] >= 0.25 else "approve")
    assert body["external_id"] == inputs["ID_CLIENT"]
    record = ScoreRequest.objects.get(pk=body["id"])
    assert record.channel == "api" and record.sequence == 1 and record.record_hash


@contextmanager
def chain_head_held_for(seconds: float) -> Iterator[None]:
    """Another session holds the audit chain's head for ``seconds``: the worker's final write waits."""
    AuditChainHead.objects.get_or_create(id=1)
    holder = database_session()
    with holder.cursor() as cursor:
        cursor.execute("SELECT 1 FROM scoring_auditchainhead WHERE id = 1 FOR UPDATE")
    release = threading.Timer(seconds, holder.rollback)
    release.start()
    try:
        yield
    finally:
        release.join(timeout=seconds + 10)
        holder.close()


@pytest.mark.django_db(transaction=True)
def test_a_waiting_request_is_answered_when_the_worker_finalises_without_polling(
    api, active_version, celery_worker_process, settings
):
    settings.CREDITRISK_SCORE_FALLBACK_SECONDS = 30  # only the worker's signal can end this wait early
    started = time.monotonic()
    with chain_head_held_for(1.0), CaptureQueriesContext(connection) as queries:
        response = api.post(URL, applicant_inputs(seed=8)[0], format="json")
    elapsed = time.monotonic() - started
    assert response.status_code == 201 and response.json()["status"] == "done", response.content
    assert 0.9 <= elapsed < 5, elapsed
    # A second of waiting costs nothing: after the commit, one read of the final row, UNLISTEN, and the
    # flush that puts the decision on disk before the answer (scoring/services/commits.py).
    kinds = [query["sql"].split()[0] for query in queries.captured_queries]
    assert kinds == ["SELECT", "BEGIN", "SET", "INSERT", "INSERT", "LISTEN", "COMMIT", "SELECT", "UNLISTEN", "SELECT"]
    assert queries.captured_queries[-1]["sql"] == FLUSH


@pytest.mark.django_db(transaction=True)
def test_async_request_answers_202_and_can_be_polled(api, active_version, celery_worker_process):
    response = api.post(URL + "?async=true", applicant_inputs(seed=2)[0], format="json")
    assert response.status_code == 202
    request_id = response.json()["id"]
    for _ in range(200):
        body = api.get(f"{URL}{request_id}/").json()
        if body["status"] == "done":
            break
        import time

        time.sleep(0.05)
    assert body["status"] == "done" and body["decision"] in ("approve", "decline")


@pytest.mark.django_db
def test_without_an_answer_in_time_the_request_is_202(api, active_version, settings):
    settings.CREDITRISK_SCORE_WAIT_SECONDS = 0.05  # no worker here, and on_commit never fires in this test
    response = api.post(URL, applicant_inputs(seed=3)[0], format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"


@pytest.mark.django_db
def test_invalid_fields_get_an_error_each(api, active_version):
    inputs = applicant_inputs(seed=4)[0]
    inputs.update(AGE="old", PAYMENT_DAY=7, SEX="X", PERSONAL_MONTHLY_INCOME=-5, FAVOURITE_COLOUR="blue")
    response = api.post(URL, inputs, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"AGE", "PAYMENT_DAY", "SEX", "PERSONAL_MONTHLY_INCOME", "FAVOURITE_COLOUR"}
    assert errors["FAVOURITE_COLOUR"] == ["Unknown field."]
    assert not ScoreRequest.objects.exists()


@pytest.mark.django_db
def test_required_fields_are_required(api, active_version):
    """The fields the demo form marks as required (the schema's non-nullable inputs): absent or null, 400."""
    required = {c.name for c in schema.INPUT_COLUMNS[1:] if not c.nullable}
    assert {"AGE", "PAYMENT_DAY", "PERSONAL_MONTHLY_INCOME", "FLAG_RESIDENCIAL_PHONE", "PRODUCT"} <= required
    response = api.post(URL, {"ID_CLIENT": 5}, format="json")
    assert response.status_code == 400 and set(response.json()) == required
    inputs = applicant_inputs(seed=8)[0] | {"PERSONAL_MONTHLY_INCOME": None}
    response = api.post(URL, inputs, format="json")
    assert response.status_code == 400 and set(response.json()) == {"PERSONAL_MONTHLY_INCOME"}
    assert not ScoreRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_inputs_not_sent_are_listed_and_reasons_about_them_say_so(api, active_version, celery_worker_process):
    inputs = applicant_inputs(seed=9)[0]
    left_out = [name for name in active_version.features if schema.COLUMNS_BY_NAME[name].nullable][:6]
    body = api.post(URL, {k: v for k, v in inputs.items() if k not in left_out}, format="json").json()
    assert body["status"] == "done" and set(left_out) <= set(body["missing_inputs"])
    assert set(body["missing_inputs"]) <= set(active_version.features)
    for reason in body["reasons"]:
        if reason["value"] is None:  # a reason about an input that was not sent
            assert reason["column"] in left_out and "not given" in reason["text"], reason
    complete = api.post(URL, inputs | dict.fromkeys(left_out, None), format="json").json()
    assert complete["missing_inputs"] == body["missing_inputs"]  # null is the same as not sent


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["not json", "[1, 2]", "null", '{"AGE": {"nested": 1}, "PAYMENT_DAY": "10"}'])
def test_malformed_bodies_are_400_not_500(api, active_version, body):
    response = api.post(URL, body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_anonymous_is_refused(client, active_version):
    assert client.post(URL, applicant_inputs()[0], content_type="application/json").status_code == 401
    assert client.get(URL).status_code == 401


@pytest.mark.django_db
def test_a_client_sees_only_its_own_requests(api, other_api, staff_api, active_version):
    mine = api.post(URL + "?async=true", applicant_inputs(seed=5)[0], format="json").json()["id"]
    theirs = other_api.post(URL + "?async=true", applicant_inputs(seed=6)[0], format="json").json()["id"]
    assert api.get(f"{URL}{theirs}/").status_code == 404
    assert other_api.get(f"{URL}{mine}/").status_code == 404
    assert [r["id"] for r in api.get(URL).json()["results"]] == [mine]
    assert {r["id"] for r in staff_api.get(URL).json()["results"]} == {mine, theirs}
    assert staff_api.get(f"{URL}{mine}/").status_code == 200


@pytest.mark.django_db
def test_list_filters_by_decision_model_and_date(api, client_user, active_version):
    from scoring.tests.factories import final_score_requests

    requests = final_score_requests(active_version, 6, user=client_user)
    declined = [str(r.id) for r in requests if r.decision == DECLINE]
    body = api.get(URL, {"decision": "decline"}).json()
    assert sorted(r["id"] for r in body["results"]) == sorted(declined)
    assert api.get(URL, {"model_version": "v9"}).json()["count"] == 0
    assert api.get(URL, {"model_version": "v1"}).json()["count"] == 6
    after = requests[0].created_at.isoformat()
    assert api.get(URL, {"created_before": after}).json()["count"] == 0
    assert api.get(URL, {"decision": "maybe"}).status_code == 400
    assert api.get(URL, {"page_size": 2}).json()["next"]


@pytest.mark.django_db
def test_replay_rescoring_leaves_the_original_untouched(api, client_user, active_version):
    from scoring.tests.factories import final_score_requests

    original = final_score_requests(active_version, 1, user=client_user)[0]
    response = api.post(f"{URL}{original.id}/replay/", {}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["original"]["id"] == str(original.id)
    assert body["replay"]["probability_bad"] == pytest.approx(original.probability_bad)
    assert body["decision_changed"] is False
    original.refresh_from_db()
    assert original.sequence == 1
    assert api.post(f"{URL}{original.id}/replay/", {"model_version": "v404"}, format="json").status_code == 404


@pytest.mark.django_db
def test_task_run_twice_stores_one_result(active_version):
    from scoring.services.score_requests import score_request_create, score_request_process

    created = score_request_create(inputs=applicant_inputs(seed=8)[0], requested_by=None, channel="api")
    first = score_request_process(score_request_id=str(created.pk))
    second = score_request_process(score_request_id=str(created.pk))
    assert first.record_hash == second.record_hash and second.sequence == 1
    assert ScoreRequest.objects.filter(sequence__isnull=False).count() == 1


@pytest.mark.django_db
def test_request_is_published_inside_its_transaction(
    api, active_version, django_capture_on_commit_callbacks, settings, monkeypatch
):
    # Published before the commit, so a broker that refuses it rolls everything back (503, nothing
    # stored; the real-Redis version is scoring/tests/faults/test_broker_down.py).
    from django.db import connection

    from creditrisk.celery import app as celery_app

    sent = []

    def publish(name, args, **options):
        sent.append((args[0], connection.in_atomic_block, ScoreRequest.objects.filter(pk=args[0]).exists()))

    monkeypatch.setattr(celery_app, "send_task", publish)
    settings.CREDITRISK_SCORE_WAIT_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(URL, applicant_inputs(seed=9)[0], format="json")
    assert response.status_code == 202 and callbacks == []
    assert sent == [(response.json()["id"], True, True)]


@pytest.mark.django_db
def test_a_refused_publish_answers_503_and_stores_nothing(api, active_version, monkeypatch):
    from kombu.exceptions import OperationalError

    from creditrisk.celery import app as celery_app
    from scoring.models import Applicant

    def refuse(*args, **options):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(celery_app, "send_task", refuse)
    response = api.post(URL, applicant_inputs(seed=10)[0], format="json")
    assert response.status_code == 503 and int(response["Retry-After"]) > 0
    assert "Connection refused" in response.json()["detail"]
    assert not ScoreRequest.objects.exists() and not Applicant.objects.exists()


@pytest.mark.django_db
def test_model_versions_list_marks_the_active_one(api, active_version):
    body = api.get(reverse("model-versions")).json()
    assert body[0]["version"] == "v1" and body[0]["is_active"] is True
    assert "roc_auc" in body[0]["cv_metrics"]


@pytest.mark.django_db
def test_each_user_is_throttled(api, active_version, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "3/minute"}}
    statuses = [api.get(URL).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.django_db
def test_drf_create_token_gives_a_working_token(client_user, active_version):
    import io

    from django.core.management import call_command
    from rest_framework.test import APIClient

    out = io.StringIO()
    call_command("drf_create_token", client_user.username, stdout=out)
    key = out.getvalue().split()[2]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(URL).status_code == 200


@pytest.mark.django_db
def test_a_message_for_an_unknown_request_is_dropped(caplog):
    from scoring.tasks import score_request_process_task

    score_request_process_task.run("00000000-0000-0000-0000-000000000000")
    assert "does not exist; message dropped" in caplog.text
