"""Champion and challenger on the API: shadow scores of single and bulk decisions made by a real worker,
a failing challenger that leaves the answer alone, who sees which shadow scores, and the comparison."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from scoring.challenger_apis import CLIENT_ERROR
from scoring.models import ShadowScore
from scoring.services.challenger import challenger_set
from scoring.tests.conftest import api_final, wait_for
from scoring.tests.factories import applicant_inputs, final_score_requests

URL = "/api/v1/shadow-scores/"
COMPARISON = "/api/v1/challenger/comparison/"


def _shadow_of(request_id: str, timeout: float = 10) -> ShadowScore:
    wait_for(
        lambda: ShadowScore.objects.filter(score_request_id=uuid.UUID(request_id)).exists(),
        timeout,
        f"the shadow score of {request_id}",
    )
    return ShadowScore.objects.get(score_request_id=uuid.UUID(request_id))


@pytest.mark.django_db(transaction=True)
def test_a_decision_is_answered_by_the_champion_and_scored_in_shadow(
    api, other_api, staff_api, active_version, challenger_version, celery_worker_process
):
    challenger_set(model_version=challenger_version)
    response = api.post("/api/v1/score-requests/", applicant_inputs(seed=31)[0], format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["model_version"] == "v1" and answer["threshold"] == 0.25
    assert not any("shadow" in key or "challenger" in key for key in answer)  # never part of the decision
    shadow = _shadow_of(answer["id"])
    assert (shadow.champion_decision, shadow.champion_probability) == (answer["decision"], answer["probability_bad"])
    mine = api.get(URL, {"score_request": answer["id"]}).json()
    assert mine["count"] == 1
    row = mine["results"][0]
    assert row["kind"] == "single" and row["score_request"] == answer["id"] and row["batch"] is None
    assert (row["champion_model_version"], row["challenger_model_version"]) == ("v1", "v2")
    assert row["champion_decision"] == answer["decision"] and row["error"] == ""
    assert row["challenger_decision"] == ("decline" if row["challenger_probability_bad"] >= 0.2 else "approve")
    assert row["decisions_agree"] == (row["challenger_decision"] == answer["decision"])
    assert other_api.get(URL).json()["count"] == 0  # another client's decision
    assert other_api.get(URL, {"score_request": answer["id"]}).json()["count"] == 0
    assert staff_api.get(URL, {"score_request": answer["id"]}).json()["count"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_challenger_does_not_touch_the_answer(
    api, staff_api, active_version, broken_challenger, celery_worker_process
):
    response = api.post("/api/v1/score-requests/", applicant_inputs(seed=32)[0], format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["status"] == "done" and answer["model_version"] == "v1" and answer["error"] == ""
    shadow = _shadow_of(answer["id"])
    assert shadow.challenger == broken_challenger and shadow.probability_bad is None
    failed = api.get(URL, {"agreement": "failed"}).json()["results"]
    assert [r["score_request"] for r in failed] == [answer["id"]]
    assert failed[0]["decisions_agree"] is None and failed[0]["error"] == CLIENT_ERROR  # no server paths for a client
    detail = staff_api.get(URL, {"agreement": "failed"}).json()["results"]
    assert "ArtifactIntegrityError" in detail[0]["error"]


@pytest.mark.django_db(transaction=True)
def test_a_bulk_job_is_scored_in_shadow_and_only_its_owner_sees_it(
    api, other_api, staff_api, active_version, challenger_version, celery_worker_process, trained
):
    challenger_set(model_version=challenger_version)
    text = "".join(trained["text"].splitlines(keepends=True)[:80]).encode("latin-1")
    upload = api.post("/api/v1/batches/", {"file": SimpleUploadedFile("portfolio.txt", text)}, format="multipart")
    assert upload.status_code == 202, upload.content
    job = api_final(api, f"/api/v1/batches/{upload.json()['id']}/", timeout=60)
    assert job["status"] == "done" and job["rows_done"] == 80
    wait_for(lambda: ShadowScore.objects.filter(job_id=job["id"]).count() == 80, 10, "the job's 80 shadow scores")
    mine = api.get(URL, {"batch": job["id"], "page_size": 100}).json()
    assert mine["count"] == 80 and {r["kind"] for r in mine["results"]} == {"bulk"}
    assert sorted(r["line"] for r in mine["results"]) == list(range(1, 81))
    assert other_api.get(URL, {"batch": job["id"]}).json()["count"] == 0
    assert staff_api.get(URL, {"batch": job["id"]}).json()["count"] == 80
    assert api.get(URL, {"kind": "single"}).json()["count"] == 0


@pytest.mark.django_db
def test_the_comparison_is_for_staff_only(api, staff_api, active_version, challenger_version):
    assert staff_api.get(COMPARISON).status_code == 409  # no challenger yet
    challenger_set(model_version=challenger_version)
    done = final_score_requests(active_version, 6)
    assert api.get(COMPARISON).status_code == 403
    response = staff_api.get(COMPARISON)
    assert response.status_code == 200, response.content
    body = response.json()
    agree = sum(ShadowScore.objects.get(score_request=r).decision == r.decision for r in done)
    assert (body["challenger"], body["champion"], body["single"], body["failed"]) == ("v2", "v1", 6, 0)
    assert body["comparison"]["agreement_rate"] == pytest.approx(agree / 6)
    assert body["realised"] is None and {
        s["name"] for s in (body["comparison"]["swap_in"], body["comparison"]["swap_out"])
    } == {"swap_in", "swap_out"}
    assert staff_api.get(COMPARISON, {"challenger": "v404"}).status_code == 404
    bad = staff_api.get(COMPARISON, {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()
    backwards = staff_api.get(COMPARISON, {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"})
    assert backwards.status_code == 400 and "until" in backwards.json()


@pytest.mark.django_db
def test_bad_filters_of_the_shadow_scores_answer_400(api):
    response = api.get(URL, {"score_request": "not-a-uuid", "agreement": "maybe"})
    assert response.status_code == 400 and set(response.json()) == {"score_request", "agreement"}
