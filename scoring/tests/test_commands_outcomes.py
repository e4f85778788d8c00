"""``manage.py outcomes``: record a file of outcomes, and print a version's realised performance."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from scoring.models import OutcomeUpload
from scoring.tests.factories import UserFactory, final_score_requests

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("outcomes", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_the_command_records_a_file_lists_what_it_did_not_apply_and_reports(active_version, write_file):
    decisions = final_score_requests(active_version, 3)
    rows = "".join(f"{d.pk},{i % 2},{timezone.localdate()}\n" for i, d in enumerate(decisions))
    path = write_file("june.csv", f"decision_id,bad,date\n{rows}{decisions[0].pk},1,\n")  # the first given 0 and 1
    output = _run(str(path), "--note", "June")
    upload = OutcomeUpload.objects.get()
    assert (upload.channel, upload.uploaded_by, upload.note, upload.applied, upload.rows) == (
        "command",
        None,
        "June",
        2,
        4,
    )
    assert output.startswith("june.csv: 2 of 4 outcome rows recorded (2 conflict); upload ")
    assert f"  line 2 (decision {decisions[0].pk}): conflict: the file gives this decision different outcomes" in output
    assert f"  line 5 (decision {decisions[0].pk}): conflict:" in output
    report = _run("--performance", "v1")
    assert report.startswith("Realised performance of v1 (decline at 0.250)") and "approved population only" in report
    assert "outcomes: 2 " in report and "decisions: 3," in report
    assert json.loads(_run("--performance", "v1", "--json"))["outcomes"] == 2


def test_a_client_given_with_user_matches_that_clients_decisions_only(active_version, write_file):
    lender, other = UserFactory.create(username="lender-a"), UserFactory.create(username="lender-b")
    theirs = final_score_requests(active_version, 1, user=other)[0]
    path = write_file("o.csv", f"decision_id,bad\n{theirs.pk},1\n")
    result = json.loads(_run(str(path), "--user", "lender-a", "--json"))
    assert result["applied"] == 0 and result["listed"][0]["kind"] == "unknown"
    with pytest.raises(CommandError, match="its uploads match its own decisions only"):
        _run(str(path), "--user", "lender-a", "--client", "lender-b")
    with pytest.raises(CommandError, match="--client: no user nobody"):
        _run(str(path), "--client", "nobody")
    assert OutcomeUpload.objects.get().uploaded_by == lender


def test_a_file_that_cannot_be_read_is_an_error_naming_it(active_version, write_file, tmp_path):
    with pytest.raises(CommandError, match="bad.csv: the header row .* lacks the column bad"):
        _run(str(write_file("bad.csv", "ID_CLIENT\n1\n")))
    with pytest.raises(CommandError, match="missing.csv"):
        _run(str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="no model version v9"):
        _run("--performance", "v9")
    assert not OutcomeUpload.objects.exists()
