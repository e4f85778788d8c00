"""The back-office: runs read-only, with their report, charts and decisions."""

import pytest
from django.contrib.auth.models import User

from ml.simulation import Economics
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
