"""Signed checkpoints of the audit chain's head, outside the database: what they catch and what they cannot."""

import json

import pytest
from django.conf import settings as django_settings

from scoring.models import AuditChainHead, ScoreRequest
from scoring.services import audit_checkpoints
from scoring.services.audit import AuditKeyring, audit_keyring
from scoring.services.audit_checkpoints import Checkpoint, audit_checkpoint_write, checkpoint_sign
from scoring.services.audit_verification import audit_verify, audit_verify_report
from scoring.tasks import audit_checkpoint_task
from scoring.tests.factories import final_score_requests
from scoring.tests.test_audit import KEY_A, KEY_B, _untriggered, _verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_checkpoints, "_last_written", None)  # another test's chain may have been signed


def _truncate_to(sequence: int) -> None:
    """Delete every record after ``sequence`` and move the head back onto it: a chain consistent in itself."""
    last = ScoreRequest.objects.get(sequence=sequence)
    _untriggered("DELETE FROM scoring_scorerequest WHERE sequence > %s", [sequence])
    AuditChainHead.objects.filter(id=1).update(sequence=sequence, record_hash=last.record_hash)


def _problems() -> list[str]:
    return [problem.problem for problem in audit_verify()[1]]


def test_a_checkpoint_signs_the_head_and_an_idle_chain_is_not_signed_again(active_version, audit_checkpoint_dir):
    final_score_requests(active_version, 3)
    checkpoint = audit_checkpoint_write()
    head = AuditChainHead.objects.get(id=1)
    assert checkpoint and (checkpoint.sequence, checkpoint.record_hash) == (3, head.record_hash)
    files = list(audit_checkpoint_dir.iterdir())
    assert [f.name for f in files] == [checkpoint.name] and checkpoint.name.startswith("000000000000003-")
    stored = json.loads(files[0].read_text())
    assert set(stored) == {"sequence", "record_hash", "written_at", "key_id", "mac"}
    assert KEY_A not in files[0].read_text() and django_settings.CREDITRISK_AUDIT_KEY not in files[0].read_text()
    assert audit_checkpoint_write() is None  # nothing new to sign
    report = audit_verify_report()
    assert (report.checked, report.problems, [c.sequence for c in report.checkpoints]) == (3, [], [3])
    assert "checked against 1 signed checkpoints; the latest, written" in _verify()


def test_the_beat_task_writes_a_checkpoint(active_version, audit_checkpoint_dir):
    final_score_requests(active_version, 2)
    audit_checkpoint_task()
    assert [p.name[:15] for p in audit_checkpoint_dir.iterdir()] == ["000000000000002"]
    assert django_settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]["task"] == "scoring.tasks.audit_checkpoint_task"


def test_a_truncated_tail_with_the_head_moved_back_is_caught_by_a_checkpoint(active_version, audit_checkpoint_dir):
    final_score_requests(active_version, 5)
    audit_checkpoint_write()
    _truncate_to(3)
    problems = _problems()
    assert len(problems) == 1 and "saw the chain at record 5, but it now ends at record 3" in problems[0]
    for path in audit_checkpoint_dir.iterdir():
        path.unlink()
    assert _problems() == []  # without the checkpoint, a consistent shorter chain cannot be told apart


def test_a_truncated_tail_is_caught_with_or_without_a_checkpoint(active_version):
    requests = final_score_requests(active_version, 4)
    audit_checkpoint_write()
    _untriggered("DELETE FROM scoring_scorerequest WHERE id = %s", [requests[-1].pk])  # the head left as it was
    problems = _problems()
    assert any("at the end were deleted or altered" in p for p in problems)
    assert any("saw the chain at record 4, but it now ends at record 3" in p for p in problems)


def test_the_head_moved_back_past_a_checkpoint_is_caught(active_version):
    final_score_requests(active_version, 4)
    audit_checkpoint_write()
    second = ScoreRequest.objects.get(sequence=2)
    AuditChainHead.objects.filter(id=1).update(sequence=2, record_hash=second.record_hash)
    problems = _problems()
    assert any("the chain should end at record 2, but its last record is 4" in p for p in problems)


def test_a_chain_rewritten_as_legacy_links_is_caught_by_a_checkpoint(active_version):
    """Relabelling every record a legacy (sha256) link passes the link checks; the signed head does not."""
    from scoring.tests.test_audit import _rewrite_from

    final_score_requests(active_version, 4)
    audit_checkpoint_write()
    _rewrite_from(1, None, "")
    problems = _problems()
    assert problems == ["differs from the signed checkpoint " + _latest().name + ": the chain up to here was rewritten"]


def test_a_cut_after_the_last_checkpoint_is_caught_back_to_that_checkpoint_only(active_version):
    """What the README states: records after the latest checkpoint can be cut, down to it, unnoticed."""
    final_score_requests(active_version, 3)
    audit_checkpoint_write()
    final_score_requests(active_version, 2)  # records 4 and 5, not signed yet
    _truncate_to(3)
    assert _problems() == []
    _truncate_to(2)
    assert any("saw the chain at record 3, but it now ends at record 2" in p for p in _problems())


def test_a_forged_checkpoint_is_refused_and_not_trusted(active_version, audit_checkpoint_dir):
    final_score_requests(active_version, 3)
    # Without the key a forger makes the signature up, or signs with a key of their own.
    made_up = Checkpoint(9, "f" * 64, "2026-01-01T00:00:00+00:00", audit_keyring().current_id, "0" * 64)
    (audit_checkpoint_dir / "000000000000009-20260101T000000000000Z.json").write_text(made_up.document())
    own_key = checkpoint_sign(sequence=8, record_hash="e" * 64, keyring=_keyring_of(KEY_B))
    (audit_checkpoint_dir / own_key.name).write_text(own_key.document())
    problems = _problems()
    assert len(problems) == 2, problems
    assert "000000000000009-" in problems[1] and "forged or altered without the audit key" in problems[1]
    assert own_key.name in problems[0] and "not in the keyring" in problems[0]
    assert not any("saw the chain" in p for p in problems)  # neither is taken for the chain's length


def test_a_valid_checkpoint_renamed_to_a_later_position_is_refused(active_version, audit_checkpoint_dir):
    final_score_requests(active_version, 3)
    checkpoint = audit_checkpoint_write()
    assert checkpoint
    (audit_checkpoint_dir / checkpoint.name).rename(audit_checkpoint_dir / ("9" * 15 + checkpoint.name[15:]))
    problems = _problems()
    assert len(problems) == 1 and "does not match its position 3 (renamed)" in problems[0]


def test_checkpoints_of_a_retired_key_verify_after_a_rotation(active_version, settings):
    settings.CREDITRISK_AUDIT_KEY = KEY_A
    final_score_requests(active_version, 2)
    audit_checkpoint_write()
    settings.CREDITRISK_AUDIT_KEY, settings.CREDITRISK_AUDIT_OLD_KEYS = KEY_B, [KEY_A]
    final_score_requests(active_version, 1)
    audit_checkpoint_write()
    report = audit_verify_report()
    assert report.problems == [] and [c.sequence for c in report.checkpoints] == [2, 3]
    assert len({c.key_id for c in report.checkpoints}) == 2


def test_checkpoints_in_s3_catch_a_truncation_on_their_own(active_version, s3_bucket, settings, audit_checkpoint_dir):
    client, bucket = s3_bucket
    settings.CREDITRISK_AUDIT_CHECKPOINT_URI = f"s3://{bucket}/audit/checkpoints"
    final_score_requests(active_version, 4)
    checkpoint = audit_checkpoint_write()
    assert checkpoint
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"audit/checkpoints/{checkpoint.name}"]
    for path in audit_checkpoint_dir.iterdir():
        path.unlink()  # the local copy gone with the database's host: the bucket still has it
    assert audit_verify() == (4, [])
    _truncate_to(2)
    assert any("saw the chain at record 4, but it now ends at record 2" in p for p in _problems())


def test_an_s3_location_that_cannot_be_read_fails_the_audit(active_version, s3_bucket, settings):
    settings.CREDITRISK_AUDIT_CHECKPOINT_URI = "s3://no-such-bucket-here/audit"
    final_score_requests(active_version, 1)
    problems = _problems()
    assert len(problems) == 1 and "checkpoints in s3://no-such-bucket-here/audit cannot be read" in problems[0]


def _keyring_of(key: str) -> AuditKeyring:
    from scoring.services.audit import _keyring

    return _keyring(key, ())


def _latest() -> Checkpoint:
    return audit_verify_report().checkpoints[-1]
