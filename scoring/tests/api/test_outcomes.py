"""Observed outcomes over the API: upload, what is listed, who sees what, and realised performance (staff)."""

from __future__ import annotations

import gzip

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from scoring.models import Outcome, OutcomeUpload
from scoring.tests.factories import final_score_requests

pytestmark = pytest.mark.django_db
URL = "/api/v1/outcomes/"


def _post(client, text: str | bytes, name: str = "outcomes.csv", **fields):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        URL, {"file": SimpleUploadedFile(name, data, content_type="text/csv"), **fields}, format="multipart"
    )


def test_a_client_uploads_outcomes_and_is_told_what_was_recorded_and_what_was_not(api, client_user, active_version):
    first, second = final_score_requests(active_version, 2, user=client_user)
    response = _post(
        api,
        f"decision_id,ID_CLIENT,bad,region\n{first.pk},,1,north\n,{second.external_id},0,south\n"
        "7f0c5a4e-1111-4a2b-9c3d-000000000001,,1,\n,,2,\n",
        note="Q3 collections",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rows"], body["applied"], body["uploaded_by"], body["decisions_of"]) == (4, 2, "lender-a", "lender-a")
    assert body["counts"] == {"invalid": 1, "unknown": 1, "duplicate": 0, "conflict": 0, "ambiguous": 0}
    assert body["note"] == "Q3 collections" and body["ignored_columns"] == ["region"] and body["audit_sequence"] == 3
    assert [(row["line"], row["kind"]) for row in body["listed"]] == [(4, "unknown"), (5, "invalid")]
    assert body["listed"][0]["problem"] == "no score request or bulk job of lender-a has this id"
    assert body["listed_total"] == 2
    assert api.get(f"{URL}{body['id']}/").json() == body
    csv = b"".join(api.get(body["listed_url"]).streaming_content).decode().splitlines()
    assert csv[0] == "line,reference,kind,problem" and csv[1].startswith("4,decision 7f0c5a4e-1111") and len(csv) == 3


def test_clients_see_their_own_uploads_only_and_staff_see_every_one(api, other_api, staff_api, active_version):
    mine = _post(api, "ID_CLIENT,bad\n1,1\n").json()
    theirs = _post(other_api, "ID_CLIENT,bad\n2,0\n").json()
    assert [u["id"] for u in api.get(URL).json()["results"]] == [mine["id"]]
    assert [u["id"] for u in other_api.get(URL).json()["results"]] == [theirs["id"]]
    assert other_api.get(f"{URL}{mine['id']}/").status_code == 404
    assert other_api.get(f"{URL}{mine['id']}/listed/").status_code == 404
    assert {u["id"] for u in staff_api.get(URL).json()["results"]} == {mine["id"], theirs["id"]}
    assert staff_api.get(f"{URL}{mine['id']}/").status_code == 200


def test_a_client_cannot_record_an_outcome_for_another_clients_decision(api, other_api, client_user, active_version):
    decision = final_score_requests(active_version, 1, user=client_user)[0]
    refused = _post(other_api, f"decision_id,bad\n{decision.pk},1\n").json()
    assert refused["applied"] == 0 and refused["counts"]["unknown"] == 1 and not Outcome.objects.exists()
    by_id = _post(other_api, f"ID_CLIENT,bad\n{decision.external_id},1\n").json()
    assert by_id["applied"] == 0 and by_id["counts"]["unknown"] == 1


def test_staff_record_outcomes_of_any_clients_decisions(staff_api, client_user, active_version):
    decision = final_score_requests(active_version, 1, user=client_user)[0]
    body = _post(staff_api, f"decision_id,bad\n{decision.pk},1\n").json()
    assert body["applied"] == 1 and body["decisions_of"] is None
    assert Outcome.objects.get().score_request_id == decision.pk


def test_staff_name_the_client_whose_decisions_an_id_client_file_matches(
    api, other_api, staff_api, client_user, active_version
):
    from django.contrib.auth.models import User

    other = User.objects.get(username="lender-b")
    mine = final_score_requests(active_version, 1, user=client_user)[0]
    theirs = final_score_requests(active_version, 1, user=other)[0]
    assert mine.external_id == theirs.external_id  # the same seed: two lenders, one ID_CLIENT
    text = f"ID_CLIENT,bad\n{mine.external_id},1\n"
    body = _post(staff_api, text, decisions_of="lender-b").json()
    assert body["applied"] == 1 and body["decisions_of"] == "lender-b"
    assert Outcome.objects.get().score_request_id == theirs.pk  # only lender-b's decision was a candidate
    refused = _post(api, text, decisions_of="lender-b")  # a client names no one: its own decisions only
    assert refused.status_code == 403 and "only staff name a client" in refused.json()["detail"]
    unknown = _post(staff_api, text, decisions_of="nobody")
    assert unknown.status_code == 404 and unknown.json()["detail"] == "decisions_of: no user nobody"
    assert OutcomeUpload.objects.count() == 1


@pytest.mark.parametrize(
    "data, message",
    [
        (b"ID_CLIENT,outcome\n1,1\n", "lacks the column bad"),
        (b"ID_CLIENT,bad\n", "no outcome rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
    ],
)
def test_a_file_that_is_no_outcome_file_is_a_400_and_stores_nothing(api, active_version, data, message):
    response = _post(api, data)
    assert response.status_code == 400 and message in response.json()["file"][0]
    assert response.json()["file"][0].startswith("outcomes.csv: ") and not OutcomeUpload.objects.exists()


def test_a_missing_file_a_bad_note_and_json_are_refused(api, active_version):
    assert api.post(URL, {"note": "x"}, format="multipart").json() == {
        "file": ["No file was submitted (multipart field `file`)."]
    }
    response = _post(api, "ID_CLIENT,bad\n1,1\n", note="two\nlines")
    assert response.status_code == 400 and "note" in response.json()
    assert api.post(URL, {"file": "x"}, format="json").status_code == 415
    assert not OutcomeUpload.objects.exists()


def test_an_upload_over_the_limit_is_a_413(api, active_version, settings):
    settings.CREDITRISK_MAX_UPLOAD_BYTES = 100
    response = _post(api, "ID_CLIENT,bad\n" + "1,1\n" * 100)
    assert response.status_code == 413 and not OutcomeUpload.objects.exists()


def test_an_outcome_file_is_bounded_by_its_rows_sent_and_once_unzipped(api, active_version, settings):
    settings.CREDITRISK_OUTCOMES_MAX_ROWS = 2  # so at most 2 KiB
    response = _post(api, "ID_CLIENT,bad,note\n" + f"1,1,{'x' * 3000}\n")
    assert response.status_code == 413 and "at most 2 rows (CREDITRISK_OUTCOMES_MAX_ROWS)" in response.json()["detail"]
    bomb = gzip.compress(b"ID_CLIENT,bad\n" + b" " * 1_000_000)  # 1 MB of blanks in about 1 kB
    response = _post(api, bomb, "bomb.csv.gz")
    assert response.status_code == 400 and "larger than 2,048 bytes" in response.json()["file"][0]
    assert not OutcomeUpload.objects.exists()


def test_realised_performance_is_for_staff_only(api, staff_api, client_user, active_version):
    decisions = final_score_requests(active_version, 3, user=client_user)
    _post(api, "decision_id,bad\n" + "".join(f"{d.pk},{i % 2}\n" for i, d in enumerate(decisions)))
    assert api.get("/api/v1/models/v1/performance/").status_code == 403
    response = staff_api.get("/api/v1/models/v1/performance/")
    assert response.status_code == 200
    body = response.json()
    assert (body["model_version"], body["outcomes"], body["bads"], body["decisions"]) == ("v1", 3, 1, 3)
    assert "approved population only" in body["limit"] and len(body["calibration"]) == 1
    assert staff_api.get("/api/v1/models/v9/performance/").status_code == 404
    assert APIClient().get("/api/v1/models/v1/performance/").status_code == 401
    assert APIClient().get(URL).status_code == 401
