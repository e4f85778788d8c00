"""Starting a simulation from the back-office in headless Chromium; a real worker runs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import pytest
from django.db import connection

from conftest import stop_process
from creditrisk.celery import app as celery_app
from scoring.tests.api.conftest import start_worker
from scoring.tests.browser import admin_login, browser_page, screenshot
from scoring.tests.conftest import broker_redis
from scoring.tests.factories import UserFactory
from simulations.models import SimulationRun


@pytest.fixture
def simulation_worker(
    transactional_db, simulation_model, simulation_dir: Path, tmp_path: Path, settings
) -> Iterator[Popen]:
    """A worker on a queue of its own, with this test's model and upload folders: a session worker of the
    API tests, still serving the batch queue with other folders, must not take this run."""
    settings.CREDITRISK_SIMULATION_QUEUE = "simulations-browser-test"
    broker_redis(celery_app.connection_for_write()).flushdb()  # no stale messages of older runs
    process = start_worker(
        database=connection.settings_dict["NAME"],
        queues="simulations-browser-test",
        model_dir=simulation_model["folder"],
        batch_dir=tmp_path / "batches",
        name="simulations",
        extra_env={"CREDITRISK_SIMULATION_DIR": str(simulation_dir)},
    )
    try:
        yield process
    finally:
        stop_process(process)


@pytest.mark.django_db(transaction=True)
def test_start_a_simulation_from_the_admin_and_open_its_report(
    model_version, simulation_worker, live_server, labelled_test_file, tmp_path, monkeypatch
):
    UserFactory.create(username="analyst", password="s3cret-pass", is_staff=True, is_superuser=True)
    with browser_page(monkeypatch) as page:
        admin_login(page, live_server.url, "analyst", "s3cret-pass")
        page.goto(f"{live_server.url}/admin/simulations/simulationrun/")
        page.click("text=Add simulation run")
        page.check("input[name=data][value=file]")
        page.set_input_files("input[name=file]", str(labelled_test_file))
        page.fill("#id_margin", "-1")  # a mistake first: refused, nothing lost
        page.fill("#id_exposure", "2500")
        page.fill("#id_bootstrap_samples", "200")
        page.click("text=Start the simulation")
        assert "greater than or equal to 0.0001" in page.locator(".field-margin, .errors").first.inner_text()
        assert float(page.input_value("#id_exposure")) == 2500
        assert "test.txt" in page.locator("[data-testid=kept-file]").inner_text()
        page.fill("#id_margin", "0.3")
        screenshot(page, tmp_path, "admin-simulation-form")
        page.click("text=Start the simulation")
        assert "queued" in page.locator(".messagelist").inner_text()
        status = page.locator("[data-testid=simulation-status]")
        if status.count():  # the worker may already be done by the time the page answers
            assert status.inner_text().startswith("This simulation is")
        page.wait_for_selector("[data-testid=simulation-report]", timeout=120_000)  # the page reloads itself
        run = SimulationRun.objects.get()
        assert run.status == "done" and run.source == "file" and run.economics["exposure"] == 2500
        assert (
            run.economics["margin"] == 0.3 and run.requested_by is not None and run.requested_by.username == "analyst"
        )
        report = page.locator("[data-testid=simulation-report]").inner_text()
        assert "approve everyone" in report and "oracle" in report and "By SEX" in report
        assert page.locator(".sim-charts img").count() == 4
        page.wait_for_function(
            "[...document.querySelectorAll('.sim-charts img')].every(img => img.complete && img.naturalWidth > 100)",
            timeout=60_000,
        )  # drawn
        screenshot(page, tmp_path, "admin-simulation-report")
        page.wait_for_load_state("networkidle")  # no request of the live server cut off by closing the browser
