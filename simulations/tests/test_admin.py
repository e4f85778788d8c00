"""The back-office: runs read-only, with their report, charts and decisions."""

import re

import pytest
from django.contrib.auth.models import User

from ml.simulation import Economics
from simulations.models import SimulationRun
from simulations.services import simulation_run_create, simulation_run_execute

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("ops", password="x"))
    return client


@pytest.fixture
def run(model_version):
    created = simulation_run_create(requested_by=None, economics=Economics(), dispatch=False, bootstrap_samples=200)
    return simulation_run_execute(run_id=created.pk)


def test_a_run_shows_its_report_with_charts_and_is_read_only(staff_client, run):
    listing = staff_client.get("/admin/simulations/simulationrun/")
    assert listing.status_code == 200 and str(run.id) in listing.content.decode()
    page = staff_client.get(f"/admin/simulations/simulationrun/{run.id}/change/").content.decode()
    assert "approve everyone" in page and "oracle" in page
    assert "Share of the oracle's uplift" in page and "%" in page
    assert "By SEX" in page and "By AGE band" in page and "earlier system approved" in page
    for name in ("profit", "roc", "scores", "fairness"):
        url = f"/admin/simulations/simulationrun/{run.id}/chart/{name}.png"
        assert url in page
        chart = staff_client.get(url)
        assert chart.status_code == 200 and chart["Content-Type"] == "image/png" and chart.content[:4] == b"\x89PNG"
    assert staff_client.get(f"/admin/simulations/simulationrun/{run.id}/chart/pie.png").status_code == 404
    assert staff_client.post(f"/admin/simulations/simulationrun/{run.id}/delete/").status_code == 403


def test_decisions_csv_and_list(staff_client, run):
    csv = b"".join(staff_client.get(f"/admin/simulations/simulationrun/{run.id}/decisions.csv").streaming_content)
    assert csv.decode().splitlines()[0] == "row,ID_CLIENT,probability_bad,score,decision,bad,exposure,profit"
    assert len(csv.decode().splitlines()) == 301
    listing = staff_client.get("/admin/simulations/simulationdecision/", {"decision__exact": "approve"})
    assert listing.status_code == 200


def test_non_staff_users_are_refused(client, run):
    client.force_login(User.objects.create_user("lender", password="x"))
    response = client.get(f"/admin/simulations/simulationrun/{run.id}/chart/profit.png")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def _form(**changes):
    values = {
        "data": "holdout",
        "bootstrap_samples": "200",
        "exposure": "1000",
        "margin": "0.25",
        "loss_given_default": "0.75",
        "cost_per_application": "0",
        "cost_of_funds": "0",
    }
    return {**values, **changes}


def test_staff_start_a_holdout_run_from_the_admin_and_its_page_shows_the_report(
    staff_client, model_version, django_capture_on_commit_callbacks
):
    page = staff_client.get("/admin/simulations/simulationrun/add/")
    assert page.status_code == 200 and "Start a lending simulation" in page.content.decode()
    with django_capture_on_commit_callbacks() as queued:
        response = staff_client.post("/admin/simulations/simulationrun/add/", _form(margin="0.3"))
    run = SimulationRun.objects.get()
    assert response.status_code == 302 and str(run.pk) in response["Location"]
    assert len(queued) == 1  # sent to the worker once committed, as the API does
    assert (
        run.source == "holdout"
        and run.economics["margin"] == 0.3
        and run.requested_by is not None
        and run.requested_by.username == "ops"
    )
    waiting = staff_client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in waiting and "This simulation is <strong>queued</strong>" in waiting
    simulation_run_execute(run_id=run.pk)
    report = staff_client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in report and 'data-testid="simulation-report"' in report
    assert "approve everyone" in report


def test_bad_economics_get_a_field_error_and_nothing_is_lost(staff_client, model_version, labelled_test_file):
    with labelled_test_file.open("rb") as handle:
        response = staff_client.post(
            "/admin/simulations/simulationrun/add/", _form(data="file", file=handle, margin="-1", exposure="2500")
        )
    html = response.content.decode()
    assert response.status_code == 400 and not SimulationRun.objects.exists()
    assert "Ensure this value is greater than or equal to 0.0001." in html
    assert 'value="2500.0"' in html or 'value="2500"' in html
    kept = re.search(r'name="kept_upload" value="([0-9a-f]{32})"', html)
    assert kept is not None
    token = kept.group(1)
    assert 'data-testid="kept-file"' in html and "test.txt" in html
    again = staff_client.post(
        "/admin/simulations/simulationrun/add/",
        _form(data="file", kept_upload=token, kept_name="test.txt", exposure="2500"),
    )
    run = SimulationRun.objects.get()
    assert again.status_code == 302 and run.source == "file" and run.data_source == "upload: test.txt"
    assert run.upload_path.read_bytes() == labelled_test_file.read_bytes() and run.economics["exposure"] == 2500


def test_a_file_without_outcomes_or_no_file_is_refused_with_a_clear_error(staff_client, model_version, tmp_path):
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("ID_CLIENT,AGE\n1,30\n")
    with unlabelled.open("rb") as handle:
        response = staff_client.post("/admin/simulations/simulationrun/add/", _form(data="file", file=handle))
    assert response.status_code == 400 and "unlabelled.csv: " in response.content.decode()
    missing = staff_client.post("/admin/simulations/simulationrun/add/", _form(data="file"))
    assert missing.status_code == 400 and "Choose the labelled file" in missing.content.decode()
    assert 'name="kept_upload"' in missing.content.decode() and not SimulationRun.objects.exists()


def test_a_cut_off_outside_0_1_is_refused(staff_client, model_version):
    response = staff_client.post("/admin/simulations/simulationrun/add/", _form(threshold="1.5"))
    assert response.status_code == 400 and "less than or equal to 1.0" in response.content.decode()


def test_probabilities_in_the_simulation_lists_have_three_decimals(staff_client, run):
    runs = staff_client.get("/admin/simulations/simulationrun/").content.decode()
    assert f">{run.threshold:.3f}<" in runs
    decision = run.decisions.first()
    decisions = staff_client.get("/admin/simulations/simulationdecision/").content.decode()
    assert f">{decision.probability_bad:.3f}<" in decisions and str(decision.probability_bad) not in decisions


def test_non_staff_cannot_start_a_run(client, model_version):
    client.force_login(User.objects.create_user("lender", password="x"))
    assert client.get("/admin/simulations/simulationrun/add/").status_code == 302
