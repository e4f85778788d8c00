"""The back-office of champion and challenger: naming and stopping the challenger with confirmation,
promotion by activation, the shadow scores and the comparison page."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib.auth.models import User

from scoring.models import ModelVersion, ShadowScore
from scoring.services.challenger import challenger_set
from scoring.tests.factories import final_score_requests

pytestmark = pytest.mark.django_db
VERSIONS = "/admin/scoring/modelversion/"


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("ops", password="x"))
    return client


def _action(client, action: str, version: ModelVersion, confirm: bool = False):
    data = {"action": action, "_selected_action": [version.pk], **({"confirm": "yes"} if confirm else {})}
    return client.post(VERSIONS, data, follow=True)


def _text(response) -> str:
    """The page's text, tags dropped and lower-cased (the admin capitalises its messages' first letter)."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))).lower()


def test_a_version_is_made_the_challenger_after_confirmation(staff_client, active_version, challenger_version):
    ask = _action(staff_client, "make_challenger", challenger_version)
    assert ask.status_code == 200 and "make v2 the challenger?" in _text(ask)
    assert "the decision stays the champion's, v1" in _text(ask)
    assert not ModelVersion.objects.filter(is_challenger=True).exists()
    done = _action(staff_client, "make_challenger", challenger_version, confirm=True)
    assert "v2 is now the challenger" in _text(done)
    assert ModelVersion.objects.get(is_challenger=True) == challenger_version
    from django.contrib.admin.models import LogEntry

    entry = LogEntry.objects.get(object_id=str(challenger_version.pk))  # who named it, and when: its history
    assert entry.user.username == "ops" and "Made the challenger" in entry.change_message
    listing = _text(staff_client.get(VERSIONS))
    assert "challenger (scores in shadow)" in listing and "champion (active: makes every decision)" in listing


def test_the_champion_cannot_be_made_the_challenger_in_the_admin(staff_client, active_version):
    answer = _action(staff_client, "make_challenger", active_version, confirm=True)
    assert "v1 is the active model, the champion: it cannot also be its challenger" in _text(answer)
    assert not ModelVersion.objects.filter(is_challenger=True).exists()


def test_a_version_that_cannot_score_is_refused_in_the_admin(staff_client, active_version):
    from scoring.tests.conftest import version_like

    altered = version_like(active_version, version="v8", scorer_sha256="0" * 64)
    answer = _action(staff_client, "make_challenger", altered, confirm=True)
    assert "v8 cannot score, so it cannot be the challenger" in _text(answer) and "nothing changed" in _text(answer)


def test_the_challenger_is_stopped_after_confirmation(staff_client, active_version, challenger_version):
    challenger_set(model_version=challenger_version)
    ask = _action(staff_client, "stop_challenger", challenger_version)
    assert "stop the challenger v2?" in _text(ask) and ModelVersion.objects.filter(is_challenger=True).exists()
    not_it = _action(staff_client, "stop_challenger", active_version, confirm=True)
    assert "none of the selected versions is the challenger (v2 is)" in _text(not_it)
    _action(staff_client, "stop_challenger", challenger_version, confirm=True)
    assert not ModelVersion.objects.filter(is_challenger=True).exists()


def test_activating_the_challenger_in_the_admin_promotes_it(staff_client, active_version, challenger_version):
    challenger_set(model_version=challenger_version)
    done = _action(staff_client, "activate", challenger_version, confirm=True)
    assert "v2 is now the active model (promoted from challenger: there is no challenger now)" in _text(done)
    promoted = ModelVersion.objects.get(pk=challenger_version.pk)
    assert promoted.is_active and not promoted.is_challenger


def test_the_comparison_page_shows_agreement_swap_sets_shift_and_charts(
    staff_client, active_version, challenger_version
):
    challenger_set(model_version=challenger_version)
    done = final_score_requests(active_version, 8)
    page = staff_client.get("/admin/scoring/challenger/")
    text, html = _text(page), page.content.decode()
    assert page.status_code == 200 and "v2 (challenger) against v1 (champion)" in text
    agree = sum(ShadowScore.objects.get(score_request=r).decision == r.decision for r in done)
    assert re.search(rf'data-testid="agreement">{agree / 8:.3f}<', html)
    assert 'data-testid="swap_in"' in html and 'data-testid="swap_out"' in html
    assert html.count('data-testid="champion-bar"') == html.count('data-testid="challenger-bar"') > 0
    assert "no outcomes are recorded yet" in text and "20 or more lower" in text
    shadows = staff_client.get("/admin/scoring/shadowscore/")
    assert shadows.status_code == 200 and "champion and challenger" in _text(shadows)
    shadow = ShadowScore.objects.first()
    assert shadow is not None
    assert staff_client.post(f"/admin/scoring/shadowscore/{shadow.pk}/delete/").status_code == 403


def test_the_comparison_page_says_when_there_is_nothing_and_refuses_bad_dates(staff_client, active_version):
    page = staff_client.get("/admin/scoring/challenger/")
    assert page.status_code == 200 and "make one the challenger first" in _text(page)
    bad = staff_client.get("/admin/scoring/challenger/", {"since": "2026-11-02", "until": "2026-11-01"})
    assert bad.status_code == 400 and "must be later than since." in _text(bad)


def test_a_refitted_version_shows_both_figures(staff_client, active_version):
    ModelVersion.objects.filter(pk=active_version.pk).update(
        refit={
            "rows": 600,
            "cv_metrics": {"roc_auc": 0.61},
            "calibration": "sigmoid on 3-fold predictions",
            "holdout_metrics": "of the model fitted on the development rows, before the refit",
        }
    )
    text = _text(staff_client.get(f"{VERSIONS}{active_version.pk}/change/"))
    assert "labelled rows fitted (holdout included)" in text and "cross-validated over them" in text
    assert "before the refit" in text and "0.6100" in text
