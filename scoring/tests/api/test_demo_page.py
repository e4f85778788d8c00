"""The demo page: server-side checks with Django's client, and end to end in headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scoring.models import ScoreRequest
from scoring.tests.factories import UserFactory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def logged_in(client, db):
    user = UserFactory(username="officer")
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


@pytest.mark.django_db(transaction=True)
def test_demo_page_in_a_real_browser(live_server, active_version, celery_worker_process, trained, tmp_path,
                                     monkeypatch):  # fmt: skip
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `.ci/run` installs Debian's chromium")
    UserFactory(username="officer", password="s3cret-pass")
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sample = tmp_path / "applicants.txt"
    sample.write_text("\r\n".join(trained["text"].split("\r\n")[:3]) + "\r\n", encoding="latin-1", newline="")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])  # fmt: skip
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{live_server.url}/")
            page.fill("#id_username", "officer")
            page.fill("#id_password", "s3cret-pass")
            page.click("button[type=submit]")
            page.fill("#f-AGE", "23")
            page.click("text=Score applicant")
            decision = page.locator("[data-testid=decision]").first
            assert decision.inner_text().lower() in ("approve", "decline")
            assert 0 < float(page.locator("[data-testid=probability]").first.inner_text()) < 1
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
            page.set_input_files("input[type=file]", str(sample))
            page.click("text=Score file")
            page.wait_for_selector("[data-testid=result]")
            assert page.locator("[data-testid=result]").count() == 3
        finally:
            browser.close()
    assert ScoreRequest.objects.filter(channel="ui", status="done").count() == 4
