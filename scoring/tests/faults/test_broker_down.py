"""Redis down or paused while a client sends work: 503 with Retry-After within seconds, and nothing stored.

Two layouts: Redis as the broker only (the throttle counters elsewhere: the publish fails), and one
Redis for the broker and the throttle counters, as the Compose file runs it (the throttle fails
first, before the view runs).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import Applicant, BatchJob, ScoreRequest
from scoring.tests.factories import UserFactory, applicant_inputs

pytestmark = pytest.mark.django_db(transaction=True)

SCORE_URL = "/api/v1/score-requests/"
BATCH_URL = "/api/v1/batches/"
# The client's patience: the broker's socket timeout (2 s) times three publish attempts, and slack
# for a busy machine.
CLIENT_TIMEOUT = 10


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _assert_refused_and_nothing_stored(response, seconds: float, limit: float = CLIENT_TIMEOUT) -> None:
    assert response.status_code == 503, response.content
    assert seconds < limit
    assert response["Content-Type"] == "application/json"
    assert int(response["Retry-After"]) > 0
    assert "unavailable" in response.json()["detail"] and "nothing was stored" in response.json()["detail"]
    assert not Applicant.objects.exists() and not ScoreRequest.objects.exists() and not BatchJob.objects.exists()


def _upload(api, batch_dir: Path):
    data = to_original_format(synthetic_applications(50, seed=3).drop(columns=[schema.LABEL])).encode("latin-1")
    return api.post(BATCH_URL, {"file": SimpleUploadedFile("portfolio.txt", data)}, format="multipart")


LAYOUTS = pytest.mark.parametrize("layout", ["broker only", "broker and cache"])


def _use_layout(layout: str, settings, private_broker) -> None:
    if layout == "broker and cache":
        settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_broker.url[:-1] + "1"}}


@LAYOUTS
def test_with_redis_down_requests_are_refused_at_once_and_nothing_is_stored(
    layout, api, active_version, private_broker, batch_dir, settings
):
    _use_layout(layout, settings, private_broker)
    private_broker.kill()
    folders = set(batch_dir.iterdir())

    response, seconds = _timed(lambda: api.post(SCORE_URL, applicant_inputs(seed=1)[0], format="json"))
    _assert_refused_and_nothing_stored(response, seconds, limit=3)  # connection refused: no wait at all
    response, seconds = _timed(lambda: _upload(api, batch_dir))
    _assert_refused_and_nothing_stored(response, seconds, limit=3)
    assert set(batch_dir.iterdir()) == folders  # the uploaded file was not kept either

    private_broker.start()  # back, empty: the next requests are taken, stored and queued
    assert api.post(SCORE_URL + "?async=true", applicant_inputs(seed=2)[0], format="json").status_code == 202
    assert _upload(api, batch_dir).status_code == 202
    assert ScoreRequest.objects.count() == 1 and BatchJob.objects.count() == 1
    assert private_broker.queue_length("scoring") == 1 and private_broker.queue_length("batch") == 1


@LAYOUTS
def test_with_redis_paused_requests_are_refused_within_the_timeout(
    layout, api, active_version, private_broker, batch_dir, settings
):
    _use_layout(layout, settings, private_broker)
    api.post(SCORE_URL + "?async=true", applicant_inputs(seed=3)[0], format="json")  # a connection to hang on
    ScoreRequest.objects.all().delete()
    Applicant.objects.all().delete()
    private_broker.pause()
    try:
        response, seconds = _timed(lambda: api.post(SCORE_URL, applicant_inputs(seed=4)[0], format="json"))
        _assert_refused_and_nothing_stored(response, seconds)
        response, seconds = _timed(lambda: _upload(api, batch_dir))
        _assert_refused_and_nothing_stored(response, seconds)
    finally:
        private_broker.resume()
    assert api.post(SCORE_URL + "?async=true", applicant_inputs(seed=5)[0], format="json").status_code == 202


def test_the_schema_documents_the_503_and_its_retry_after_header(api):
    paths = api.get("/api/schema/?format=json").json()["paths"]
    for path in ("/api/v1/score-requests/", "/api/v1/batches/"):
        unavailable = paths[path]["post"]["responses"]["503"]
        assert "nothing was stored" in unavailable["description"]
        assert unavailable["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_the_demo_page_says_the_queue_is_unavailable_and_stores_nothing(client, active_version, private_broker):
    client.force_login(UserFactory.create(username="officer"))
    private_broker.kill()
    form = {k: "" if v is None else str(v) for k, v in applicant_inputs(seed=1)[0].items()}
    response = client.post("/", form)
    assert response.status_code == 503 and b"queue is unavailable" in response.content
    assert not Applicant.objects.exists() and not ScoreRequest.objects.exists()
