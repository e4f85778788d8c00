"""The back-office of observed outcomes: the upload form, the read-only uploads, the realised performance page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from scoring.models import OutcomeUpload
from scoring.services.challenger import challenger_set
from scoring.services.outcomes import outcome_upload_create
from scoring.tests.factories import UserFactory, final_score_requests

pytestmark = pytest.mark.django_db
ADD = "/admin/scoring/outcomeupload/add/"


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("ops", password="x"))
    return client


def _file(text: str, name: str = "outcomes.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_staff_upload_outcomes_and_see_what_was_listed_on_a_read_only_page(staff_client, active_version):
    decision = final_score_requests(active_version, 1)[0]
    response = staff_client.post(
        ADD, {"file": _file(f"decision_id,bad\n{decision.pk},1\n{decision.pk},0\n,1\n"), "note": "June collections"}
    )
    upload = OutcomeUpload.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/outcomeupload/{upload.pk}/change/")
    assert (upload.applied, upload.counts["conflict"], upload.counts["invalid"]) == (0, 2, 1)
    assert upload.channel == "admin" and upload.note == "June collections" and upload.decisions_of is None
    page = staff_client.get(response["Location"]).content.decode()
    assert "the file gives this decision different outcomes" in page and "neither ID_CLIENT nor decision_id" in page
    assert f"/api/v1/outcomes/{upload.pk}/listed/" in page and 'type="submit"' not in page.split("<form")[-1]
    listing = staff_client.get("/admin/scoring/outcomeupload/").content.decode()
    assert "June collections" in listing and "0 of 3" in listing and "2 conflict" in listing
    assert staff_client.post(f"/admin/scoring/outcomeupload/{upload.pk}/delete/").status_code == 403


def test_a_refused_file_keeps_the_note_and_the_client_chosen(staff_client, active_version):
    lender = UserFactory.create(username="lender-a")
    response = staff_client.post(
        ADD, {"file": _file("ID_CLIENT,outcome\n1,1\n", "wrong.csv"), "note": "Q3 export", "decisions_of": lender.pk}
    )
    page = response.content.decode()
    assert response.status_code == 400 and "wrong.csv: the header row" in page and "lacks the column bad" in page
    assert 'value="Q3 export"' in page
    assert re.search(rf'<option value="{lender.pk}" selected>lender-a</option>', page)
    assert not OutcomeUpload.objects.exists()


def test_a_clients_outcomes_match_only_that_clients_decisions(staff_client, active_version):
    lender, other = UserFactory.create(username="lender-a"), UserFactory.create(username="lender-b")
    final_score_requests(active_version, 1, user=other)  # ID_CLIENT 1, another lender's
    mine = final_score_requests(active_version, 1, user=lender)[0]  # ID_CLIENT 1 too
    staff_client.post(ADD, {"file": _file("ID_CLIENT,bad\n1,1\n"), "decisions_of": lender.pk})
    upload = OutcomeUpload.objects.get()
    assert upload.decisions_of == lender and upload.counts["ambiguous"] == 0
    assert upload.outcomes.get().score_request_id == mine.pk


def test_the_realised_performance_page_states_its_limit_with_tables_and_a_chart(staff_client, active_version):
    decisions = final_score_requests(active_version, 4)
    text = "decision_id,bad\n" + "".join(f"{d.pk},{i % 2}\n" for i, d in enumerate(decisions))
    outcome_upload_create(content=[text.encode()], original_name="o.csv", uploaded_by=None, channel="command")
    change = staff_client.get(f"/admin/scoring/modelversion/{active_version.pk}/change/").content.decode()
    url = f"/admin/scoring/modelversion/{active_version.pk}/performance/"
    assert url in change and url in staff_client.get("/admin/scoring/modelversion/").content.decode()
    page = staff_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "Approved applicants only." in html and "approved population only" in html
    assert "<svg class='calibration'" in html and html.count("<circle") == 1  # four outcomes: one band
    assert 'data-testid="calibration"' in html and "ROC AUC" in html and "realised (booked from the outcomes)" in html


def test_the_performance_page_of_a_version_without_outcomes_says_so(staff_client, active_version):
    html = staff_client.get(f"/admin/scoring/modelversion/{active_version.pk}/performance/").content.decode()
    assert "No outcome has been recorded for a decision of v1 yet" in html and "Approved applicants only." in html
    assert staff_client.get("/admin/scoring/modelversion/999/performance/").status_code == 404


def test_the_challenger_page_shows_both_models_realised_performance_once_outcomes_exist(
    staff_client, active_version, challenger_version
):
    challenger_set(model_version=challenger_version)
    decisions = final_score_requests(active_version, 4)
    text = "decision_id,bad\n" + "".join(f"{d.pk},{i % 2}\n" for i, d in enumerate(decisions))
    outcome_upload_create(content=[text.encode()], original_name="o.csv", uploaded_by=None, channel="command")
    html = staff_client.get("/admin/scoring/challenger/").content.decode()
    assert 'data-testid="realised"' in html and "champion v1" in html and "challenger v2" in html
    assert "4 compared decisions have an outcome" in html and "Approved applicants only." in html
    assert "no outcomes are recorded yet" not in html
