"""The audit trail: immutable final records (service and database) and the hash chain."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from scoring.models import ScoreRequest
from scoring.services.audit import audit_verify
from scoring.tests.factories import final_score_requests

pytestmark = pytest.mark.django_db


def _verify() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out, stderr=out)
    return out.getvalue()


def _untriggered(sql: str, params: list) -> None:
    """What an attacker with table rights could do: bypass the trigger and write directly."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # superuser: triggers do not fire
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def test_an_intact_chain_verifies(active_version):
    final_score_requests(active_version, 5)
    assert "audit chain intact: 5 records verified" in _verify()


def test_records_are_chained_in_sequence(active_version):
    requests = final_score_requests(active_version, 3)
    assert [r.sequence for r in requests] == [1, 2, 3]
    assert requests[1].previous_hash == requests[0].record_hash
    assert requests[2].previous_hash == requests[1].record_hash


def test_database_refuses_to_update_a_final_record(active_version):
    request = final_score_requests(active_version, 1)[0]
    with pytest.raises(DatabaseError, match="final audit record"), transaction.atomic():
        ScoreRequest.objects.filter(pk=request.pk).update(decision="approve")


def test_database_refuses_to_delete_a_final_record(active_version):
    request = final_score_requests(active_version, 1)[0]
    with pytest.raises(DatabaseError, match="cannot be delete"), transaction.atomic():
        ScoreRequest.objects.filter(pk=request.pk).delete()


def test_verify_audit_catches_an_edited_record(active_version):
    requests = final_score_requests(active_version, 4)
    _untriggered("UPDATE scoring_scorerequest SET probability_bad = 0.01 WHERE id = %s", [requests[2].pk])
    with pytest.raises(CommandError, match="audit chain broken"):
        _verify()
    _, problems = audit_verify()
    assert [(p.sequence, p.problem) for p in problems] == [(3, "content was edited after the decision")]


def test_verify_audit_catches_a_deleted_record(active_version):
    requests = final_score_requests(active_version, 4)
    _untriggered("DELETE FROM scoring_scorerequest WHERE id = %s", [requests[1].pk])
    with pytest.raises(CommandError, match="audit chain broken"):
        _verify()
    _, problems = audit_verify()
    assert problems and problems[0].sequence == 3 and "missing" in problems[0].problem


def test_verify_audit_catches_the_last_record_deleted(active_version):
    requests = final_score_requests(active_version, 3)
    _untriggered("DELETE FROM scoring_scorerequest WHERE id = %s", [requests[-1].pk])
    _, problems = audit_verify()
    assert len(problems) == 1 and "at the end were deleted" in problems[0].problem


def test_verify_audit_catches_reordered_records(active_version):
    requests = final_score_requests(active_version, 3)
    _untriggered("UPDATE scoring_scorerequest SET sequence = -sequence WHERE id IN (%s, %s)",
                 [requests[0].pk, requests[1].pk])  # fmt: skip
    _untriggered("UPDATE scoring_scorerequest SET sequence = 2 WHERE id = %s", [requests[0].pk])
    _untriggered("UPDATE scoring_scorerequest SET sequence = 1 WHERE id = %s", [requests[1].pk])
    _, problems = audit_verify()
    assert any("does not link" in p.problem for p in problems)
