"""The back-office in headless Chromium against a live server: what a risk analyst sees."""

from __future__ import annotations

import pytest

from scoring.tests.browser import admin_login, browser_page, screenshot
from scoring.tests.factories import UserFactory, final_score_requests


@pytest.mark.django_db(transaction=True)
def test_model_version_page_and_dashboard_in_a_real_browser(live_server, trained_version, tmp_path, monkeypatch):
    UserFactory.create(username="analyst", password="s3cret-pass", is_staff=True, is_superuser=True)
    final_score_requests(trained_version, 40)
    with browser_page(monkeypatch) as page:
        admin_login(page, live_server.url, "analyst", "s3cret-pass")
        page.goto(f"{live_server.url}/admin/scoring/modelversion/{trained_version.pk}/change/")
        assert page.locator("table.records tbody tr").count() >= 2  # the candidates compared
        assert page.locator(".field-cv_metrics_table table.kv tr").count() >= 5
        assert page.locator(".field-hyperparameters_table table.kv tr").count() >= 2
        assert page.locator("svg.importance rect").count() >= 5
        for image in page.locator("img.figure, .model-card img").all():  # served, decoded, drawn
            assert image.evaluate("img => img.complete && img.naturalWidth > 100"), image.get_attribute("src")
        assert page.locator(".model-card img").count() == 3 and page.locator("img.figure").count() == 2
        assert page.locator(".model-card h1").inner_text() == "Model card: v1"
        assert page.locator(".model-card table").count() >= 2
        text = page.locator("body").inner_text()
        for raw in ('{"', "{'", '["', "['", "![", "| --- |"):
            assert raw not in text, f"{raw!r} is on the model version page"
        screenshot(page, tmp_path, "admin-model-version")

        page.goto(f"{live_server.url}/admin/scoring/dashboard/")
        bars = page.locator("[data-testid=histogram-bar]")
        heights = [bar.evaluate("b => b.getBoundingClientRect().height") for bar in bars.all()]
        assert len(heights) >= 5 and sum(1 for h in heights if h > 0) >= 3, heights
        screenshot(page, tmp_path, "admin-dashboard")
