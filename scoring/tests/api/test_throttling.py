"""Per-user throttling: a client over its rate gets 429 with Retry-After; others are not held back."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

URL = "/api/v1/models/"


@pytest.fixture
def low_rate(settings):
    cache.clear()  # counts live in the shared cache (Redis): start from none
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "3/minute"}}
    yield
    cache.clear()


@pytest.mark.django_db
def test_over_the_rate_a_client_gets_429_with_retry_after(api, active_version, low_rate):
    statuses = [api.get(URL).status_code for _ in range(3)]
    throttled = api.get(URL)
    assert statuses == [200, 200, 200] and throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert "throttled" in throttled.json()["detail"].lower()


@pytest.mark.django_db
def test_every_operation_counts_against_the_same_rate(api, active_version, low_rate, settings):
    settings.CREDITRISK_SCORE_WAIT_SECONDS = 0
    assert api.get(URL).status_code == 200
    assert api.get("/api/v1/score-requests/").status_code == 200
    assert api.post("/api/v1/score-requests/?async=true", {}, format="json").status_code == 400
    assert api.post("/api/v1/score-requests/?async=true", {}, format="json").status_code == 429


@pytest.mark.django_db
def test_one_client_being_throttled_does_not_hold_back_another(api, other_api, active_version, low_rate):
    for _ in range(4):
        api.get(URL)
    assert api.get(URL).status_code == 429
    assert [other_api.get(URL).status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.django_db
def test_anonymous_calls_are_refused_before_they_count(api, active_version, low_rate):
    anonymous = APIClient()
    assert {anonymous.get(URL).status_code for _ in range(5)} == {401}
    assert api.get(URL).status_code == 200
