"""Bodies and uploads too large or too deep are refused as client errors, before they cost memory."""

from __future__ import annotations

import json
import tracemalloc
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from scoring.models import BatchJob, ScoreRequest
from scoring.tests.factories import UserFactory, applicant_inputs, final_score_requests

URL = "/api/v1/score-requests/"


def _gzip_of_zeros(size: int) -> bytes:
    """A gzip file of ``size`` zero bytes, built without holding them all in memory."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"0" * 1_000_000
    return b"".join(deflate.compress(chunk) for _ in range(size // len(chunk))) + deflate.flush()


@pytest.fixture
def officer(client, db):
    client.force_login(UserFactory.create(username="officer"))
    return client


@pytest.mark.django_db
def test_a_body_over_the_request_limit_is_refused(api, active_version, settings):
    body = json.dumps({**applicant_inputs(seed=1)[0], "RESIDENCIAL_CITY": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE)})
    response = api.post(URL, body, content_type="application/json")
    assert response.status_code == 400 and not ScoreRequest.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("operation", ["create", "replay"])
def test_json_nested_too_deeply_is_a_400_not_a_crash(api, client_user, active_version, operation):
    path = URL
    if operation == "replay":
        path = f"{URL}{final_score_requests(active_version, 1, user=client_user)[0].id}/replay/"
    depth = 100_000
    response = api.post(path, "[" * depth + "]" * depth, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


@pytest.mark.django_db
def test_the_demo_refuses_uploads_over_1_mb(officer, active_version):
    response = officer.post("/", {"file": SimpleUploadedFile("big.csv", b"1" * 1_000_001)})
    assert response.status_code == 400 and "files up to 1 MB" in response.content.decode()


@pytest.mark.django_db
def test_the_demo_stops_a_gzip_bomb_without_expanding_it(officer, active_version):
    bomb = _gzip_of_zeros(200_000_000)  # 200 MB of zeros in about 200 kB
    assert len(bomb) < 1_000_000
    tracemalloc.start()
    try:
        response = officer.post("/", {"file": SimpleUploadedFile("applicants.csv.gz", bomb)})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # A file on the demo page is a bulk job now: its start is read to check the format, and zeros are no
    # header, so it is refused at once (a bomb behind a valid header fails at indexing on
    # CREDITRISK_MAX_DECOMPRESSED_BYTES: scoring/tests/test_services_batch_bounds.py).
    assert response.status_code == 400
    assert "expected 53 TAB-separated columns" in response.content.decode()
    assert peak < 50_000_000  # reading it whole took over 400 MB
    assert not ScoreRequest.objects.exists() and not BatchJob.objects.exists()


@pytest.mark.django_db
def test_replay_takes_json_only(api, client_user, active_version):
    """A form body "model_version=" was read by DRF as no version at all, against the schema's pattern."""
    original = final_score_requests(active_version, 1, user=client_user)[0]
    response = api.post(
        f"{URL}{original.id}/replay/", "model_version=", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
