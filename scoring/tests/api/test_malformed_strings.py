"""A lone UTF-16 surrogate, or bytes that are no UTF-8, in any field of any endpoint: a 400 that says why, never a 500.

JSON may spell a surrogate as an escape (``"\\ud800"``) that the parser decodes to a code point no
UTF-8 response can carry; the validation error then echoed it and the renderer failed with a 500.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from api.parsers import surrogate_path
from api.renderers import JSONRenderer
from scoring.models import BatchJob, ScoreRequest
from scoring.serializers import ApplicantInputSerializer
from scoring.tests.factories import UserFactory, applicant_inputs, final_score_requests
from simulations.models import SimulationRun

pytestmark = pytest.mark.django_db
LONE = "\ud800"
URL = "/api/v1/score-requests/"


def _post_json(client, path: str, document: object):
    # json.dumps escapes the surrogate as \ud800, as a client would send it.
    return client.post(path, json.dumps(document), content_type="application/json")


def _says_surrogate(response, where: str) -> None:
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert "lone UTF-16 surrogate" in detail and f"at {where} " in detail, detail


@pytest.mark.parametrize("field", sorted(ApplicantInputSerializer().fields))
def test_a_surrogate_in_any_applicant_field_is_a_400(api, active_version, field):
    inputs = {**applicant_inputs(seed=1)[0], field: LONE}
    _says_surrogate(_post_json(api, URL, inputs), field)
    assert not ScoreRequest.objects.exists()


def test_every_choice_field_is_covered(active_version):
    choices = [name for name, field in ApplicantInputSerializer().fields.items() if hasattr(field, "choices")]
    assert len(choices) >= 25  # the tester's 25 choice fields, each answering 500 before


def test_a_surrogate_inside_a_longer_string_in_a_key_or_in_an_unknown_field_is_a_400(api, active_version):
    _says_surrogate(_post_json(api, URL, {"AGE": 30, "PAYMENT_DAY": f"1{LONE}0"}), "PAYMENT_DAY")
    _says_surrogate(_post_json(api, URL, {"AGE": 30, f"X{LONE}": 1}), "a key")
    _says_surrogate(_post_json(api, URL, {"AGE": 30, "NOTE": [1, {"a": LONE}]}), "NOTE[1].a")
    _says_surrogate(_post_json(api, URL, LONE), "the top level")


def test_a_valid_pair_is_a_character_not_a_surrogate(api, active_version):
    """ "\\ud83d\\ude00" is one emoji: it reaches validation and is refused as a wrong value, like any other."""
    response = _post_json(api, URL, {**applicant_inputs(seed=1)[0], "PAYMENT_DAY": "\U0001f600"})
    assert response.status_code == 400 and "PAYMENT_DAY" in response.json()
    assert "\U0001f600" in response.content.decode()


def test_bytes_that_are_no_utf8_are_a_400(api, active_version):
    body = b'{"AGE": 30, "PAYMENT_DAY": "\xed\xa0\x80"}'  # a surrogate encoded as if UTF-8 allowed it
    response = api.post(URL, body, content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]


def test_replay_refuses_a_surrogate(api, client_user, active_version):
    original = final_score_requests(active_version, 1, user=client_user)[0]
    _says_surrogate(_post_json(api, f"{URL}{original.id}/replay/", {"model_version": LONE}), "model_version")


def test_simulations_refuse_a_surrogate(api, active_version):
    _says_surrogate(_post_json(api, "/api/v1/simulations/", {"model_version": LONE}), "model_version")
    _says_surrogate(_post_json(api, "/api/v1/simulations/", {"exposure": LONE}), "exposure")
    assert not SimulationRun.objects.exists()


def test_query_strings_and_upload_names_with_such_bytes_are_no_500(api, active_version, settings):
    # Django decodes query strings and multipart names with replacement characters: no surrogate survives.
    for path in (
        "/api/v1/batches/?status=%ED%A0%80",
        f"{URL}?status=%ED%A0%80",
        "/api/v1/models/?x=%ED%A0%80",
        "/api/v1/batches/%ED%A0%80/",
        f"{URL}%ED%A0%80/",
    ):
        assert api.get(path).status_code in (200, 400, 404), path
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a\xed\xa0\x80.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\n"
        ).encode("latin-1")
        + b"\xed\xa0\x80\r\n"
        + f"--{boundary}--\r\n".encode()
    )
    response = api.generic("POST", "/api/v1/batches/", body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400 and "file" in response.json()
    assert not BatchJob.objects.exists()


def test_the_demo_form_and_the_admin_login_answer_such_bytes_with_a_form_error(active_version):
    officer = Client()
    officer.force_login(UserFactory.create(username="officer"))
    body = b"AGE=30&PAYMENT_DAY=%ED%A0%80&SEX=%ED%A0%80"
    response = officer.post("/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "PAYMENT_DAY" in response.content.decode()
    assert not ScoreRequest.objects.exists()
    login = Client().post(
        "/admin/login/", b"username=%ED%A0%80&password=x", content_type="application/x-www-form-urlencoded"
    )
    assert login.status_code == 200 and "correct username and password" in login.content.decode()


def test_the_renderer_escapes_what_utf8_cannot_carry_instead_of_failing():
    body = JSONRenderer().render({"detail": f"not a choice: {LONE}", "name": "Zoë"})
    assert json.loads(body) == {"detail": f"not a choice: {LONE}", "name": "Zoë"}
    assert JSONRenderer().render({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()


def test_surrogate_path_names_where_the_first_one_is():
    assert surrogate_path({"a": [1, {"b": "ok"}], "c": "ok"}) is None
    assert surrogate_path({"a": [1, {"b": f"x{LONE}"}]}) == "a[1].b"
