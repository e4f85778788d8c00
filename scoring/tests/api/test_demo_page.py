"""The demo page: server-side checks with Django's client, and end to end in headless Chromium."""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from conftest import stop_process
from ml import schema
from ml.data import to_original_format
from ml.registry import save_table
from ml.sample import synthetic_applications
from scoring.gauge import gauge_for
from scoring.models import BatchJob, BatchResult, ModelVersion, ScoreRequest
from scoring.services.batch_chunks import batch_job_run_inline
from scoring.tests.api.conftest import start_worker
from scoring.tests.factories import UserFactory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"  # looked at by a person; var/ is not in git


@pytest.fixture
def logged_in(client, db):
    user = UserFactory.create(username="officer")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_demo_page_needs_a_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_demo_form_shows_key_fields_first_with_defaults(logged_in, active_version):
    html = logged_in.get("/").content.decode()
    assert html.index('name="AGE"') < html.index('name="CITY_OF_BIRTH"')
    assert 'id="f-PAYMENT_DAY"' in html and "model v1" in html


@pytest.mark.django_db
def test_demo_form_speaks_the_data_dictionary(logged_in, active_version):
    html = logged_in.get("/").content.decode()
    assert ">State of residence" in html and ">Bill payment day" in html and ">Type of residence" in html
    assert '<option value="SP">São Paulo (SP)</option>' in html or '<option value="SP" selected>São' in html
    assert ">Via the internet (Web)</option>" in html and ">In person or posted (Carga)</option>" in html
    occupation = html[html.index('data-testid="field-OCCUPATION_TYPE"') :]
    assert ">code 2</option>" in occupation[: occupation.index("</select>")]  # "encoding not informed"
    assert 'title="Data dictionary: Indicates if the applicant possesses a home phone"' in html


@pytest.mark.django_db
def test_demo_form_marks_required_fields_and_those_the_model_does_not_use(logged_in, active_version):
    html = logged_in.get("/").content.decode()
    unused = html[html.index('data-testid="unused-fields"') :]
    used = html[: html.index('data-testid="unused-fields"')]
    for name in ("SEX", "MARITAL_STATUS"):
        assert name not in active_version.features and f'data-testid="field-{name}"' in unused
    assert 'data-testid="field-AGE"' in used and unused.count("not used by the model") == sum(
        1 for name in schema.FEATURE_NAMES if name not in active_version.features
    )
    required = [name for name in schema.FEATURE_NAMES if not schema.COLUMNS_BY_NAME[name].nullable]
    assert len(required) == 9
    for name in required:
        field = html[html.index(f'data-testid="field-{name}"') :]
        assert '<span class="required" title="required">*</span>' in field[: field.index("</label>")]


@pytest.mark.django_db
def test_a_small_file_becomes_a_job_whose_page_is_one_table(logged_in, active_version, trained, tmp_path):
    sample = tmp_path / "applicants.txt"
    sample.write_text("\r\n".join(trained["text"].split("\r\n")[:5]) + "\r\n", encoding="latin-1", newline="")
    with sample.open("rb") as handle:
        response = logged_in.post("/", {"file": handle})
    assert response.status_code == 302
    job = BatchJob.objects.get()
    assert response["Location"] == f"/batches/{job.pk}/" and job.channel == "ui"
    batch_job_run_inline(job=job)  # what the workers do
    html = logged_in.get(response["Location"]).content.decode()
    table = html[html.index('data-testid="results-table"') :]
    assert table.count("<tr>") == 1 + 5  # header and one row an applicant
    counts = BatchResult.objects.filter(job=job).values_list("decision", flat=True)
    assert f'data-testid="approved">{list(counts).count("approve")}<' in html
    assert f'data-testid="declined">{list(counts).count("decline")}<' in html
    assert f'href="/api/v1/batches/{job.pk}/results/"' in html


@pytest.mark.django_db
def test_demo_form_errors_are_shown_per_field_and_nothing_is_stored(logged_in, active_version):
    response = logged_in.post("/", {"AGE": "abc", "PAYMENT_DAY": "10"})
    assert response.status_code == 400
    assert "A valid integer is required." in response.content.decode()
    assert not ScoreRequest.objects.exists()


@pytest.mark.django_db
def test_demo_upload_of_a_bad_file_names_the_problem(logged_in, active_version, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID_CLIENT,AGE\n1,30\n")
    with bad.open("rb") as handle:
        response = logged_in.post("/", {"file": handle})
    assert response.status_code == 400 and "missing columns" in response.content.decode()


@contextmanager
def browser_page(live_server, username: str) -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright, signed in as ``username`` (password s3cret-pass)."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `.ci/run` installs Debian's chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
            page.set_default_timeout(30_000)
            page.goto(f"{live_server.url}/")
            page.fill("#id_username", username)
            page.fill("#id_password", "s3cret-pass")
            page.click("button[type=submit]")
            page.wait_for_selector("text=Credit-risk scoring")
            yield page
        finally:
            browser.close()


def _keep_validation(version: ModelVersion, trained: dict) -> None:
    """The development rows' predictions beside the artifact, as training keeps them: the gauge's range."""
    name = f"{version.version}.validation.csv.gz"
    version.validation_path = name
    version.validation_sha256 = save_table(trained["result"].validation, trained["folder"] / name)
    version.save()


@pytest.mark.django_db(transaction=True)
def test_demo_page_in_a_real_browser(
    live_server, active_version, celery_worker_process, trained, tmp_path, monkeypatch
):
    UserFactory.create(username="officer", password="s3cret-pass")
    _keep_validation(active_version, trained)
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sample = tmp_path / "applicants.txt"
    sample.write_text("\r\n".join(trained["text"].split("\r\n")[:10]) + "\r\n", encoding="latin-1", newline="")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with browser_page(live_server, "officer") as page:
        # The form in words: labels, named codes, codes the dictionary does not explain, unused fields.
        assert page.locator("label[for=f-RESIDENCIAL_STATE]").inner_text().startswith("State of residence")
        assert "São Paulo (SP)" in page.locator("#f-RESIDENCIAL_STATE").inner_text()
        assert "code 2" in page.locator("#f-OCCUPATION_TYPE").inner_text()
        assert "not used by the model" in page.locator("[data-testid=field-SEX]").text_content()  # folded away
        assert page.locator(".required").count() == 9

        page.click("text=Score applicant")  # the defaults: the reference applicant
        result = page.locator("[data-testid=result]").first
        assert result.locator("[data-testid=decision]").inner_text().lower() in ("approve", "decline")
        assert 0 < float(result.locator("[data-testid=probability]").inner_text()) < 1
        gauge = result.locator("[data-testid=gauge]")
        label = gauge.get_attribute("aria-label")
        low, high = (int(n) for n in label.split("range from ")[1].split(" to "))
        assert 300 < low < high < 850 and gauge.locator("[data-testid=cutoff]").count() == 1
        assert f"cut-off {gauge_for(active_version).cutoff}" in gauge.text_content()

        # A riskier applicant than the reference: the reasons as bars of their impact.
        page.fill("#f-AGE", "19")
        page.fill("#f-PERSONAL_MONTHLY_INCOME", "150")
        page.select_option("#f-FLAG_RESIDENCIAL_PHONE", "N")
        page.click("text=Score applicant")
        bars = page.locator("[data-testid=reason-bar]")
        bars.first.wait_for()
        widths = [bars.nth(i).evaluate("e => e.getBoundingClientRect().width") for i in range(bars.count())]
        assert widths and all(w > 0 for w in widths) and max(widths) == pytest.approx(160, abs=2)
        page.screenshot(path=str(SCREENSHOTS / "demo-result.png"), full_page=False)

        # A small file: one table of decisions, the counts, and the CSV download.
        page.set_input_files("input[type=file]", str(sample))
        page.click("text=Score file")
        page.wait_for_selector("[data-testid=results-table]", timeout=60_000)
        assert page.locator("[data-testid=results-table] tbody tr").count() == 10
        approved = int(page.locator("[data-testid=approved]").inner_text())
        declined = int(page.locator("[data-testid=declined]").inner_text())
        assert approved + declined == 10
        page.screenshot(path=str(SCREENSHOTS / "batch-results.png"), full_page=True)
        with page.expect_download() as download:
            page.click("[data-testid=results]")
        rows = list(csv.reader(Path(download.value.path()).read_text().splitlines()))
        assert rows[0][:4] == ["ID_CLIENT", "probability_bad", "score", "decision"] and len(rows) == 11
        assert sum(row[3] == "decline" for row in rows[1:]) == declined
    assert ScoreRequest.objects.filter(channel="ui", status="done").count() == 2
    assert BatchJob.objects.get(channel="ui").rows_done == 10


@pytest.mark.django_db(transaction=True)
def test_bulk_job_progress_moves_within_its_one_chunk(
    live_server, active_version, trained, batch_dir, settings, tmp_path, monkeypatch
):
    """A file of one chunk: the page and the API show rows handled strictly between 0 and the total,
    with a rate and a time left, several times before the job ends."""
    UserFactory.create(username="officer", password="s3cret-pass")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    queue = f"batch-progress-{os.getpid()}"  # a worker of this test's own, configured as below
    settings.CREDITRISK_BATCH_QUEUE = queue
    settings.CREDITRISK_BATCH_CHUNK_ROWS = 100_000
    rows = 12_000
    big = tmp_path / "portfolio.txt"
    big.write_text(
        to_original_format(synthetic_applications(rows, seed=5).drop(columns=[schema.LABEL])),
        encoding="latin-1",
        newline="",
    )
    worker = start_worker(
        database=connection.settings_dict["NAME"],
        queues=queue,
        model_dir=trained["folder"],
        batch_dir=batch_dir,
        name="progress",
        extra_env={
            "CREDITRISK_BATCH_QUEUE": queue,
            "CREDITRISK_BATCH_PROGRESS_ROWS": "1000",
            "CREDITRISK_BATCH_MIN_CHUNK_ROWS": "100000",
        },
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page_readings, api_readings = [], []
    try:
        with browser_page(live_server, "officer") as page:
            page.goto(f"{live_server.url}/batches/")
            page.set_input_files("input[type=file]", str(big))
            page.click("text=Upload and score")
            page.wait_for_selector("[data-testid=status]")
            job_url = page.url
            job_id = job_url.rstrip("/").rsplit("/", 1)[1]
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                body = page.request.get(f"{live_server.url}/api/v1/batches/{job_id}/").json()
                api_readings.append((body["status"], body["progress"]["rows_handled"], body["progress"]))
                page.goto(job_url)
                status = page.locator("[data-testid=status]").inner_text()
                handled = int(page.locator("[data-testid=progress]").get_attribute("data-rows-handled"))
                if status == "running" and 0 < handled < rows:
                    text = page.locator("[data-testid=progress]").inner_text()
                    page_readings.append((handled, text))
                    if len(page_readings) == 2:
                        page.screenshot(path=str(SCREENSHOTS / "batch-progress.png"), full_page=True)
                if status in ("done", "failed", "cancelled"):
                    break
                time.sleep(0.2)
            assert status == "done", f"the job ended {status}"
    finally:
        stop_process(worker)
    job = BatchJob.objects.get(pk=job_id)
    assert job.chunks_total == 1 and job.rows_done == rows
    inside = sorted({handled for handled, _ in page_readings})
    assert len(inside) >= 2, f"the page showed no progress inside the chunk: {page_readings}"
    assert all("rows/s" in text and "s left" in text for _, text in page_readings)
    moving = [p for status, handled, p in api_readings if status == "running" and 0 < handled < rows]
    assert len({p["rows_handled"] for p in moving}) >= 2 and all(
        p["rows_in_progress"] == p["rows_handled"] for p in moving
    )
    assert all(p["rows_per_second"] and p["eta_seconds"] is not None for p in moving)
