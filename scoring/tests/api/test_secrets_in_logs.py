"""No API token and no password ever reaches the logs: not on success, refusal, failed login or a crash."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from scoring import apis
from scoring.tests.factories import UserFactory, applicant_inputs

PASSWORD = "Correct-Horse-7f3a9c"
WRONG_PASSWORD = "Wrong-Battery-41d2e8"
WRONG_TOKEN = "f" * 40


@pytest.mark.django_db
def test_tokens_and_passwords_never_appear_in_logs(active_version, settings, caplog, capfd, monkeypatch):
    settings.CREDITRISK_SCORE_WAIT_SECONDS = 0
    user = UserFactory.create(username="lender-a", password=PASSWORD)
    token = Token.objects.create(user=user).key
    caplog.set_level(logging.DEBUG)  # every logger, every level; from here on (the factory logs its arguments)
    capfd.readouterr()
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    api.get("/api/v1/score-requests/")
    api.post("/api/v1/score-requests/", applicant_inputs(seed=1)[0], content_type="application/json")
    api.post("/api/v1/score-requests/", {"AGE": "old", "token": token}, content_type="application/json")
    Client(HTTP_AUTHORIZATION=f"Token {WRONG_TOKEN}").get("/api/v1/models/")
    for page in ("/accounts/login/", "/admin/login/"):
        Client().post(page, {"username": "lender-a", "password": WRONG_PASSWORD})
        Client().post(page, {"username": "nobody", "password": PASSWORD})
        Client().post(page, {"username": "lender-a", "password": PASSWORD})
    # A crash in an authenticated request: Django logs it with its traceback.
    monkeypatch.setattr(apis, "model_version_list", lambda: 1 / 0)
    crashing = Client(HTTP_AUTHORIZATION=f"Token {token}", raise_request_exception=False)
    crashed = crashing.get("/api/v1/models/")

    logged = caplog.text + "".join(capfd.readouterr())
    assert crashed.status_code == 500 and token not in crashed.content.decode()
    assert "Unauthorized: /api/v1/models/" in logged and "ZeroDivisionError" in logged  # the logs were captured
    for secret in (token, WRONG_TOKEN, PASSWORD, WRONG_PASSWORD):
        assert secret not in logged
