"""Verifying the audit chain (``verify_audit``): every record's hash recomputed from the database in
one consistent snapshot, the row digests of chunks and outcome uploads recomputed from their rows,
and the head compared with the signed checkpoints kept outside the database."""

from __future__ import annotations

import heapq
import hmac
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from scoring.models import AuditChainHead, BatchChunk, OutcomeUpload, ScoreRequest
from scoring.services.audit import (
    GENESIS_HASH,
    LEGACY_KEY_ID,
    AuditKeyring,
    AuditProblem,
    audit_keyring,
    chain_hash,
    chunk_record_content,
    outcome_upload_record_content,
    record_content,
)
from scoring.services.audit_checkpoints import checkpoints_read
from scoring.services.audit_digests import (
    OUTCOME_DIGESTED,
    errors_digest,
    listed_digest,
    outcomes_digest,
    results_digest,
)


@dataclass(frozen=True)
class _Link:
    """One record of the chain as stored, with its content recomputed from the database."""

    sequence: int
    record_id: str
    previous_hash: str
    record_hash: str
    key_id: str
    content: dict[str, Any]
    extra_problem: str = ""


@dataclass
class AuditReport:
    """What ``verify_audit`` found: records checked (legacy among them), checkpoints compared, breaks."""

    checked: int = 0
    legacy: int = 0
    head_sequence: int = 0
    checkpoints: list[Any] = field(default_factory=list)
    problems: list[AuditProblem] = field(default_factory=list)


def audit_verify(*, batch_size: int = 5000) -> tuple[int, list[AuditProblem]]:
    """Walk the chain in order (single decisions, batch chunks, outcome uploads); returns records checked and
    every break."""
    report = audit_verify_report(batch_size=batch_size)
    return report.checked, report.problems


def audit_verify_report(*, batch_size: int = 5000) -> AuditReport:
    """The chain in one consistent snapshot of the database, checked against the signed checkpoints.

    The checkpoints are read first: each names a head committed before the snapshot starts, so a
    healthy chain that grows meanwhile always reaches them. Then one REPEATABLE READ transaction
    reads the head and every record: a decision committed during the walk is in neither.
    """
    report = AuditReport()
    checkpoints, report.problems = checkpoints_read(audit_keyring())
    report.checkpoints = checkpoints
    with _snapshot():
        head = AuditChainHead.objects.filter(id=1).first()
        report.head_sequence = head.sequence if head else 0
        report.problems += _unchained_final_records()
        last_sequence, last_hash = _walk(report, {c.sequence: c for c in checkpoints}, batch_size)
        if head and (head.sequence, head.record_hash) != (last_sequence, last_hash):
            report.problems.append(
                AuditProblem(
                    None,
                    None,
                    f"the chain should end at record {head.sequence}, but its "
                    f"last record is {last_sequence}: records at the end were deleted "
                    "or altered",
                )
            )
    for checkpoint in checkpoints:
        if checkpoint.sequence > last_sequence:
            report.problems.append(
                AuditProblem(
                    None,
                    None,
                    f"the signed checkpoint {checkpoint.name} saw the chain "
                    f"at record {checkpoint.sequence}, but it now ends at record "
                    f"{last_sequence}: records at the end were deleted and the head "
                    "moved back",
                )
            )
    return report


@contextmanager
def _snapshot() -> Iterator[None]:
    """One transaction that sees the database as of its first read (nested: the caller's transaction)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _walk(report: AuditReport, checkpoints: dict[int, Any], batch_size: int) -> tuple[int, str]:
    """Check every link in order; returns the last record's sequence and hash."""
    keyring, problems = audit_keyring(), report.problems
    expected_sequence, previous_hash, keyed = 1, GENESIS_HASH, False
    links = heapq.merge(
        _request_links(batch_size), _chunk_links(), _outcome_upload_links(), key=lambda link: link.sequence
    )
    for link in links:
        report.checked += 1
        if link.sequence != expected_sequence:
            problems.append(
                AuditProblem(
                    link.sequence,
                    link.record_id,
                    f"expected record {expected_sequence} here: records are missing (deleted) or reordered",
                )
            )
        if link.previous_hash != previous_hash:
            problems.append(
                AuditProblem(
                    link.sequence, link.record_id, "does not link to the record before it (deleted or reordered)"
                )
            )
        if link.extra_problem:
            problems.append(AuditProblem(link.sequence, link.record_id, link.extra_problem))
        problem = _hash_problem(link, keyring, keyed)
        if problem:
            problems.append(AuditProblem(link.sequence, link.record_id, problem))
        checkpoint = checkpoints.get(link.sequence)
        if checkpoint and checkpoint.record_hash != link.record_hash:
            problems.append(
                AuditProblem(
                    link.sequence,
                    link.record_id,
                    f"differs from the signed checkpoint {checkpoint.name}: the chain up to here was rewritten",
                )
            )
        keyed = keyed or link.key_id != LEGACY_KEY_ID
        report.legacy += link.key_id == LEGACY_KEY_ID
        expected_sequence, previous_hash = link.sequence + 1, link.record_hash
    return expected_sequence - 1, previous_hash


def _hash_problem(link: _Link, keyring: AuditKeyring, keyed: bool) -> str:
    if link.key_id == LEGACY_KEY_ID:
        if keyed:  # the keyed chain never goes back to plain sha256: this link was written without the key
            return "a plain sha256 link after keyed links: rewritten without the audit key"
        mac = None
    else:
        mac = keyring.mac(link.key_id)
        if mac is None:
            return f"signed with audit key {link.key_id}, which is not in the keyring (CREDITRISK_AUDIT_OLD_KEYS)"
    if not hmac.compare_digest(chain_hash(link.previous_hash, link.content, mac), link.record_hash):
        return "content was edited after the decision"
    return ""


def _request_links(batch_size: int) -> Iterator[_Link]:
    rows: Iterable[ScoreRequest] = (
        ScoreRequest.objects.filter(sequence__isnull=False)
        .select_related("model_version")
        .order_by("sequence")
        .iterator(chunk_size=batch_size)
    )
    for request in rows:
        label = request.model_version.version if request.model_version else None
        yield _Link(
            request.sequence or 0,
            str(request.id),
            request.previous_hash,
            request.record_hash,
            request.audit_key_id,
            record_content(request, label),
        )


def _chunk_links() -> Iterator[_Link]:
    """Batch chunks in order, their row digests recomputed from the stored results and errors."""
    chunks = (
        BatchChunk.objects.filter(sequence__isnull=False)
        .select_related("job", "job__model_version")
        .order_by("sequence")
        .iterator(chunk_size=200)
    )
    for chunk in chunks:
        results = results_digest(chunk.results.order_by("line").iterator(chunk_size=5000))
        errors = errors_digest(
            chunk.row_errors.order_by("line", "id").values_list("line", "column", "problem").iterator(chunk_size=5000)
        )
        changed = (results, errors) != (chunk.results_sha256, chunk.errors_sha256)
        yield _Link(
            chunk.sequence or 0,
            f"batch {chunk.job_id} chunk {chunk.index}",
            chunk.previous_hash,
            chunk.record_hash,
            chunk.audit_key_id,
            chunk_record_content(chunk, chunk.job, results, errors),
            "rows of this batch chunk were edited, deleted or added" if changed else "",
        )


def _outcome_upload_links() -> Iterator[_Link]:
    """Outcome uploads in order, their row digests recomputed from the stored outcomes and listed rows."""
    uploads = OutcomeUpload.objects.filter(sequence__isnull=False).order_by("sequence").iterator(chunk_size=200)
    for upload in uploads:
        outcomes = outcomes_digest(
            upload.outcomes.order_by("line").values_list(*OUTCOME_DIGESTED).iterator(chunk_size=5000)
        )
        listed = listed_digest(
            upload.listed_rows.order_by("line", "id")
            .values_list("line", "reference", "kind", "problem")
            .iterator(chunk_size=5000)
        )
        changed = (outcomes, listed) != (upload.outcomes_sha256, upload.listed_sha256)
        yield _Link(
            upload.sequence or 0,
            f"outcome upload {upload.id}",
            upload.previous_hash,
            upload.record_hash,
            upload.audit_key_id,
            outcome_upload_record_content(upload, outcomes, listed),
            "outcomes of this upload were edited, deleted or added" if changed else "",
        )


def _unchained_final_records() -> Iterator[AuditProblem]:
    for request_id in ScoreRequest.objects.filter(
        status__in=ScoreRequest.FINAL_STATUSES, sequence__isnull=True
    ).values_list("id", flat=True)[:100]:
        yield AuditProblem(None, str(request_id), "a final record outside the chain")
    for job_id, index in BatchChunk.objects.filter(status=BatchChunk.Status.DONE, sequence__isnull=True).values_list(
        "job_id", "index"
    )[:100]:
        yield AuditProblem(None, f"batch {job_id} chunk {index}", "a finished batch chunk outside the chain")
    for upload_id in OutcomeUpload.objects.filter(sequence__isnull=True).values_list("id", flat=True)[:100]:
        yield AuditProblem(None, f"outcome upload {upload_id}", "an outcome upload outside the chain")
