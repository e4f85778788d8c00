"""The audit trail: immutable final records (service and database) and the keyed hash chain."""

import hashlib
import hmac
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from scoring.models import AuditChainHead, ScoreRequest
from scoring.services.audit import (
    GENESIS_HASH,
    LEGACY_KEY_ID,
    audit_key_id,
    audit_keyring,
    chain_hash,
    record_content,
)
from scoring.services.audit_verification import audit_verify, audit_verify_report
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
    output = _verify()
    assert "audit chain intact: 5 records verified" in output
    assert "no signed checkpoint found: the end of the chain is not pinned" in output


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
    _untriggered(
        "UPDATE scoring_scorerequest SET sequence = -sequence WHERE id IN (%s, %s)", [requests[0].pk, requests[1].pk]
    )
    _untriggered("UPDATE scoring_scorerequest SET sequence = 2 WHERE id = %s", [requests[0].pk])
    _untriggered("UPDATE scoring_scorerequest SET sequence = 1 WHERE id = %s", [requests[1].pk])
    _, problems = audit_verify()
    assert any("does not link" in p.problem for p in problems)


# -- the keyed chain ----------------------------------------------------------------------------------

KEY_A, KEY_B = "a" * 32 + "-first-audit-key", "b" * 32 + "-second-audit-key"


def _rewrite_from(position: int, mac_for: Callable[[], Any] | None, key_id: str) -> None:
    """What a tamperer with table rights does: edit record ``position`` and recompute it and every later
    hash with the project's own function (``mac_for``: the HMAC they can make; None: plain sha256)."""
    previous = ScoreRequest.objects.get(sequence=position).previous_hash
    for request in ScoreRequest.objects.filter(sequence__gte=position).order_by("sequence"):
        if request.sequence == position:
            request.probability_bad = 0.01
        record_hash = chain_hash(previous, record_content(request, "v1"), mac_for() if mac_for else None)
        _untriggered(
            "UPDATE scoring_scorerequest SET probability_bad = %s, previous_hash = %s, record_hash = %s, "
            "audit_key_id = %s WHERE id = %s",
            [request.probability_bad, previous, record_hash, key_id, request.pk],
        )
        previous = record_hash
    AuditChainHead.objects.filter(id=1).update(record_hash=previous)


def test_links_are_hmacs_under_the_configured_key(active_version, settings):
    settings.CREDITRISK_AUDIT_KEY = KEY_A
    first = final_score_requests(active_version, 1)[0]
    assert first.audit_key_id == audit_key_id(KEY_A) and len(first.audit_key_id) == 16
    content = record_content(ScoreRequest.objects.get(pk=first.pk), "v1")
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    expected = hmac.new(KEY_A.encode(), (GENESIS_HASH + canonical).encode(), hashlib.sha256).hexdigest()
    assert first.record_hash == expected
    assert KEY_A not in str(ScoreRequest.objects.filter(pk=first.pk).values().get())  # never in the database


@pytest.mark.parametrize(
    ("mac_for", "key_id", "problem"),
    [
        (None, "same", "content was edited after the decision"),  # sha256, the old chain function
        (None, "", "a plain sha256 link after keyed links"),  # the same, labelled a legacy link
        (lambda: hmac.new(b"a guessed key", digestmod=hashlib.sha256), "same", "content was edited"),
    ],
    ids=["sha256", "relabelled-legacy", "guessed-key"],
)
def test_hashes_recomputed_without_the_key_are_caught(active_version, mac_for, key_id, problem):
    requests = final_score_requests(active_version, 5)
    _rewrite_from(2, mac_for, requests[0].audit_key_id if key_id == "same" else key_id)
    _, problems = audit_verify()
    assert [p.sequence for p in problems] == [2, 3, 4, 5]
    assert all(problem in p.problem for p in problems)


def test_hashes_recomputed_with_the_key_pass(active_version, settings):
    """The limit of a keyed chain: whoever holds the key can rewrite it (README, Audit)."""
    requests = final_score_requests(active_version, 4)
    keyring = audit_keyring()
    _rewrite_from(2, lambda: keyring.mac(keyring.current_id), requests[0].audit_key_id)
    assert audit_verify() == (4, [])


def test_links_of_a_retired_key_verify_from_the_keyring(active_version, settings):
    settings.CREDITRISK_AUDIT_KEY = KEY_A
    final_score_requests(active_version, 2)
    settings.CREDITRISK_AUDIT_KEY, settings.CREDITRISK_AUDIT_OLD_KEYS = KEY_B, [KEY_A]  # rotated
    final_score_requests(active_version, 2)
    ids = list(ScoreRequest.objects.order_by("sequence").values_list("audit_key_id", flat=True))
    assert ids == [audit_key_id(KEY_A)] * 2 + [audit_key_id(KEY_B)] * 2
    assert audit_verify() == (4, [])
    settings.CREDITRISK_AUDIT_OLD_KEYS = []  # the retired key lost: its links cannot be checked
    _, problems = audit_verify()
    assert [p.sequence for p in problems] == [1, 2] and all("not in the keyring" in p.problem for p in problems)


def test_legacy_links_before_the_keyed_chain_still_verify(active_version):
    final_score_requests(active_version, 3)
    _rewrite_from(1, None, LEGACY_KEY_ID)  # as chained before this change: plain sha256, no key id
    final_score_requests(active_version, 2)  # keyed links continue the legacy chain
    report = audit_verify_report()
    assert (report.checked, report.legacy, report.problems) == (5, 3, [])
    assert "3 of them are legacy links" in _verify()


def test_audit_key_ids_are_fingerprints_that_change_with_the_key():
    assert audit_key_id(KEY_A) == audit_key_id(KEY_A) != audit_key_id(KEY_B)
    assert KEY_A[:16] not in audit_key_id(KEY_A)
