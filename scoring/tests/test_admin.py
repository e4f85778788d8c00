"""The back-office: staff only, read-only audit records, safe CSV export, activation with confirmation."""

import pytest
from django.contrib.auth.models import User

from scoring.models import ModelVersion, ScoreRequest
from scoring.tests.factories import applicant_inputs, final_score_requests

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("ops", password="x"))
    return client


def test_non_staff_users_are_refused(client, active_version):
    client.force_login(User.objects.create_user("lender", password="x"))
    response = client.get("/admin/scoring/scorerequest/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_score_requests_are_listed_filterable_and_read_only(staff_client, active_version):
    request = final_score_requests(active_version, 1)[0]
    listing = staff_client.get("/admin/scoring/scorerequest/", {"decision__exact": request.decision})
    assert listing.status_code == 200 and str(request.id) in listing.content.decode()
    detail = staff_client.get(f"/admin/scoring/scorerequest/{request.id}/change/")
    assert detail.status_code == 200 and 'type="submit"' not in detail.content.decode().split("<form")[-1]
    assert staff_client.post(f"/admin/scoring/scorerequest/{request.id}/delete/").status_code == 403


def test_csv_export_neutralises_formula_injection(staff_client, active_version):
    inputs = applicant_inputs(seed=3)[0]
    inputs["RESIDENCIAL_CITY"] = '=HYPERLINK("http://evil")'
    from scoring.services.score_requests import score_request_create, score_request_process

    created = score_request_create(inputs=inputs, requested_by=None, channel="api")
    done = score_request_process(score_request_id=str(created.pk))
    response = staff_client.post("/admin/scoring/scorerequest/",
                                 {"action": "export_csv", "_selected_action": [str(done.pk)]})  # fmt: skip
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("id,ID_CLIENT,status,decision,score")
    for line in body.splitlines()[1:]:
        assert not any(cell.startswith(("=", "+", "@")) for cell in line.split(","))


def test_spreadsheet_safe_prefixes_only_formula_text():
    from scoring.exports import spreadsheet_safe

    assert spreadsheet_safe("=1+1") == "'=1+1" and spreadsheet_safe("-2") == "'-2"
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)" and spreadsheet_safe("Recife") == "Recife"
    assert spreadsheet_safe(-2.5) == -2.5


def test_activation_asks_for_confirmation_then_switches(staff_client, active_version):
    other = ModelVersion.objects.create(**{**_copy(active_version), "version": "v2", "is_active": False})
    ask = staff_client.post("/admin/scoring/modelversion/", {"action": "activate", "_selected_action": [other.pk]})
    assert ask.status_code == 200 and "Activate model v2?" in ask.content.decode()
    assert ModelVersion.objects.get(is_active=True) == active_version
    staff_client.post("/admin/scoring/modelversion/",
                      {"action": "activate", "_selected_action": [other.pk], "confirm": "yes"})  # fmt: skip
    assert ModelVersion.objects.get(is_active=True) == other


def test_scoring_follows_the_newly_activated_version(active_version):
    from scoring.services.model_versions import model_version_activate

    other = ModelVersion.objects.create(**{**_copy(active_version), "version": "v2", "is_active": False,
                                           "threshold": 0.99})  # fmt: skip
    before = final_score_requests(active_version, 1)[0]
    model_version_activate(model_version=other)
    after = final_score_requests(other, 1)[0]
    assert before.model_version == active_version and after.model_version == other
    assert after.threshold == 0.99 and after.decision == "approve"


def test_dashboard_shows_the_figures(staff_client, active_version):
    final_score_requests(active_version, 3)
    response = staff_client.get("/admin/scoring/dashboard/")
    html = response.content.decode()
    assert response.status_code == 200 and "Scoring dashboard" in html and ">3</strong>decisions" in html
    assert ScoreRequest.objects.count() == 3


def test_model_card_is_shown_in_the_admin(staff_client, trained_version):
    html = staff_client.get(f"/admin/scoring/modelversion/{trained_version.pk}/change/").content.decode()
    assert "Model card: v1" in html and "Limitations" in html


def _copy(version: ModelVersion) -> dict:
    fields = [f.name for f in ModelVersion._meta.fields if f.name not in ("id", "created_at")]
    return {name: getattr(version, name) for name in fields}


def test_staff_upload_a_batch_file_and_follow_its_progress(staff_client, active_version, trained, settings):
    settings.CREDITRISK_BATCH_QUEUE = "no-worker-listens"  # scored below, in this process
    from django.core.files.uploadedfile import SimpleUploadedFile

    from scoring.models import BatchJob
    from scoring.services.batches import batch_job_run_inline

    upload = SimpleUploadedFile("portfolio.txt", trained["text"].encode("latin-1"))
    response = staff_client.post("/admin/scoring/batchjob/add/", {"file": upload})
    job = BatchJob.objects.get()
    assert response.status_code == 302 and str(job.pk) in response["Location"]
    assert job.channel == "admin" and job.uploaded_by.username == "ops"
    batch_job_run_inline(job=job)
    listing = staff_client.get("/admin/scoring/batchjob/").content.decode()
    assert "600 scored, 0 invalid of 600" in listing and "100.0" in listing
    detail = staff_client.get(f"/admin/scoring/batchjob/{job.pk}/change/").content.decode()
    assert f"/api/v1/batches/{job.pk}/results/" in detail
    assert staff_client.get(f"/api/v1/batches/{job.pk}/results/").status_code == 200


def test_a_wrong_batch_file_is_refused_in_the_admin_form(staff_client, active_version):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("excel.csv", b"ID_CLIENT;PAYMENT_DAY\r\n1;5\r\n")
    response = staff_client.post("/admin/scoring/batchjob/add/", {"file": upload})
    assert response.status_code == 400 and "semicolons" in response.content.decode()
