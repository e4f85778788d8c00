"""The simulations API: 202 then the result, uploads, permissions, the decisions CSV."""

from __future__ import annotations

import csv
import io

import pytest

from simulations.models import SimulationRun
from simulations.tasks import simulation_run_task

URL = "/api/v1/simulations/"
pytestmark = pytest.mark.django_db


def _start(client, django_capture_on_commit_callbacks, data=None, **options):
    """POST a simulation; the worker's task then runs here (eagerly: the worker itself is not under test)."""
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(URL, data or {}, **options)
    if response.status_code == 202:
        assert len(callbacks) == 1  # dispatched only once the run is committed
        simulation_run_task.apply(args=(response.json()["id"],))
    return response


def test_post_answers_202_and_the_run_can_be_polled_for_its_results(
    api, model_version, django_capture_on_commit_callbacks
):
    response = _start(api, django_capture_on_commit_callbacks, {"bootstrap_samples": 200}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert response["Location"] == f"{URL}{response.json()['id']}/"
    body = api.get(response["Location"]).json()
    assert body["status"] == "done" and body["source"] == "holdout" and body["model_version"] == "v1"
    assert body["threshold"] == model_version.threshold and body["threshold_source"] == "model"
    assert {
        "approved",
        "approval_rate",
        "bad_rate_approved",
        "profit",
        "profit_per_applicant",
        "profit_approve_all",
        "profit_oracle",
        "defaults_avoided",
        "goods_declined",
        "uplift_captured",
    } <= set(body["summary"])
    assert body["intervals"]["profit"]["low"] <= body["summary"]["profit"] <= body["intervals"]["profit"]["high"]
    assert {"profit_curve", "roc", "score_distributions"} <= set(body["charts"])
    assert body["fairness"]["groups"]["SEX"] and body["fairness"]["proxies"]
    assert any("earlier system approved" in limit for limit in body["limits"])
    rows = list(csv.DictReader(io.StringIO(b"".join(api.get(body["decisions_csv"]).streaming_content).decode())))
    assert len(rows) == body["summary"]["applicants"] == 300
    assert list(rows[0]) == ["row", "ID_CLIENT", "probability_bad", "score", "decision", "bad", "exposure", "profit"]
    assert sum(float(r["profit"]) for r in rows) == pytest.approx(body["summary"]["profit"])


def test_upload_of_a_labelled_file_with_other_economics(
    api, model_version, labelled_test_file, django_capture_on_commit_callbacks
):
    with labelled_test_file.open("rb") as upload:
        response = _start(
            api,
            django_capture_on_commit_callbacks,
            {"file": upload, "margin": "0.4", "bootstrap_samples": "200"},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    run = SimulationRun.objects.get(pk=response.json()["id"])
    assert run.status == "done" and run.source == "file" and run.data_source == "upload: test.txt"
    assert run.summary["applicants"] == 400 and run.threshold_source == "validation"
    assert run.upload_path.read_bytes() == labelled_test_file.read_bytes()  # kept for audit


def test_a_file_without_labels_or_malformed_is_refused_at_once(
    api, model_version, tmp_path, sample_text, django_capture_on_commit_callbacks
):
    unlabelled = tmp_path / "unlabelled.txt"
    unlabelled.write_text(
        "\r\n".join(line.rsplit("\t", 1)[0] for line in sample_text.split("\r\n") if line),
        encoding="latin-1",
        newline="",
    )
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("1\t2\t3\n", encoding="latin-1")
    for path, message in ((unlabelled, "no label column"), (garbage, "expected 53 TAB-separated columns")):
        with path.open("rb") as upload:
            response = _start(api, django_capture_on_commit_callbacks, {"file": upload}, format="multipart")
        assert response.status_code == 400 and message in response.json()["file"][0]
    assert not SimulationRun.objects.exists()


def test_a_multipart_body_without_a_file_is_refused(api, model_version):
    """Multipart is for an upload: a body that names no data is a 400, not a run on the holdout rows."""
    for body in ({}, {"margin": "0.4"}):
        response = api.post(URL, body, format="multipart")
        assert response.status_code == 400 and "as JSON ({} for the defaults)" in response.json()["file"][0]
    assert not SimulationRun.objects.exists()


def test_too_large_an_upload_is_413(
    api, model_version, labelled_test_file, settings, django_capture_on_commit_callbacks
):
    settings.CREDITRISK_SIMULATION_MAX_UPLOAD_BYTES = 1000
    with labelled_test_file.open("rb") as upload:
        response = _start(api, django_capture_on_commit_callbacks, {"file": upload}, format="multipart")
    assert response.status_code == 413 and "at most 1,000" in response.json()["detail"]


def test_invalid_parameters_get_an_error_each(api, model_version):
    response = api.post(URL, {"margin": -0.3, "exposure": 0, "threshold": 2, "bootstrap_samples": 5}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"margin", "exposure", "threshold", "bootstrap_samples"}
    assert api.post(URL, {"model_version": "v7"}, format="json").status_code == 404


def test_only_staff_may_apply_a_cut_off(api, staff_api, model_version, django_capture_on_commit_callbacks):
    denied = api.post(URL, {"apply_threshold": True, "margin": 0.5}, format="json")
    assert denied.status_code == 403
    response = _start(
        staff_api,
        django_capture_on_commit_callbacks,
        {"apply_threshold": True, "margin": 0.5, "bootstrap_samples": 200},
        format="json",
    )
    model_version.refresh_from_db()
    body = staff_api.get(f"{URL}{response.json()['id']}/").json()
    assert body["threshold_applied"] and model_version.threshold == body["threshold"]
    assert api.get("/api/v1/models/").json()[0]["threshold"] == body["threshold"]


def test_a_client_sees_only_its_own_runs_and_staff_sees_all(
    api, other_api, staff_api, model_version, django_capture_on_commit_callbacks
):
    mine = _start(api, django_capture_on_commit_callbacks, {"bootstrap_samples": 200}, format="json").json()["id"]
    theirs = _start(other_api, django_capture_on_commit_callbacks, {"bootstrap_samples": 200}, format="json").json()[
        "id"
    ]
    listed = api.get(URL).json()["results"]
    assert [run["id"] for run in listed] == [mine] and "charts" not in listed[0] and listed[0]["summary"]
    assert api.get(f"{URL}{theirs}/").status_code == 404
    assert api.get(f"{URL}{theirs}/decisions/").status_code == 404
    assert api.get(f"{URL}not-a-uuid/").status_code == 404
    assert {run["id"] for run in staff_api.get(URL).json()["results"]} == {mine, theirs}
    assert staff_api.get(f"{URL}{theirs}/").json()["requested_by"] == "lender-b"


def test_decisions_of_an_unfinished_run_are_409(api, model_version):
    response = api.post(URL, {}, format="json")  # no on-commit here: the run stays queued
    assert response.status_code == 202
    assert api.get(f"{URL}{response.json()['id']}/decisions/").status_code == 409
    assert api.get(f"{URL}{response.json()['id']}/").json()["decisions_csv"] is None


def test_without_an_active_model_the_answer_is_409(api, db):
    response = api.post(URL, {}, format="json")
    assert response.status_code == 409 and "train" in response.json()["detail"]


def test_anonymous_requests_are_refused(client, db):
    assert client.get(URL).status_code in (401, 403)


def test_a_gzip_csv_with_a_header_is_accepted_too(
    api, model_version, labelled_test_file, tmp_path, django_capture_on_commit_callbacks
):
    import gzip

    from ml.data import load_applications

    frame = load_applications(labelled_test_file, require_label=True).frame
    path = tmp_path / "test.csv.gz"
    path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    with path.open("rb") as upload:
        response = _start(
            api, django_capture_on_commit_callbacks, {"file": upload, "bootstrap_samples": "200"}, format="multipart"
        )
    assert response.status_code == 202, response.content
    body = api.get(f"{URL}{response.json()['id']}/").json()
    assert body["status"] == "done" and body["summary"]["applicants"] == 400
