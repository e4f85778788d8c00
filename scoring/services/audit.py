"""The tamper-evident audit chain of final score requests, bulk chunks and outcome uploads.

Each final record stores ``record_hash = HMAC-SHA256(key, previous_hash + canonical JSON of its
content)``, the id of that key (``audit_key_id``) and its ``sequence`` in the chain. The key comes from
the settings (the environment or a file), never from the database, so rewriting a record and every
later hash needs the key. Records chained before the key existed have a blank key id and a plain
``sha256`` (legacy links). Appending locks the single chain-head row, so records are chained one at a
time in commit order. Signed checkpoints of the head, kept outside the database
(``scoring/services/audit_checkpoints.py``), pin the chain's length and last hash.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from scoring.models import AuditChainHead, BatchChunk, BatchJob, OutcomeUpload, ScoreRequest

GENESIS_HASH = "0" * 64
LEGACY_KEY_ID = ""  # a link chained before the keyed chain: plain sha256


@dataclass(frozen=True)
class AuditKeyring:
    """The current key (every new link) and the retired ones (links they signed still verify), by id."""

    current_id: str
    macs: dict[str, Any]  # key id -> an HMAC-SHA256 primed with that key, copied for each hash

    def mac(self, key_id: str) -> Any | None:
        primed = self.macs.get(key_id)
        return primed.copy() if primed is not None else None


def audit_key_id(key: str) -> str:
    """A key's id: a fingerprint of the key itself, so a new key always has a new id and none is configured."""
    return hmac.new(key.encode(), b"creditrisk audit key id", hashlib.sha256).hexdigest()[:16]


def audit_keyring() -> AuditKeyring:
    return _keyring(settings.CREDITRISK_AUDIT_KEY, tuple(settings.CREDITRISK_AUDIT_OLD_KEYS))


@lru_cache(maxsize=4)
def _keyring(current: str, retired: tuple[str, ...]) -> AuditKeyring:
    macs = {audit_key_id(key): hmac.new(key.encode(), digestmod=hashlib.sha256) for key in (*retired, current)}
    return AuditKeyring(current_id=audit_key_id(current), macs=macs)


def _instant(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def record_content(request: ScoreRequest, model_version_label: str | None) -> dict[str, Any]:
    """Everything an auditor relies on, in a form that reads back identically from the database."""
    return {
        "id": str(request.id),
        "sequence": request.sequence,
        "applicant_id": request.applicant_id,
        "requested_by_id": request.requested_by_id,
        "channel": request.channel,
        "status": request.status,
        "probability_bad": request.probability_bad,
        "score": request.score,
        "decision": request.decision,
        "reasons": request.reasons,
        "model_version": model_version_label,
        "threshold": request.threshold,
        "input_snapshot": request.input_snapshot,
        "error": request.error,
        "created_at": _instant(request.created_at),
        "finished_at": _instant(request.finished_at),
    }


def chain_hash(previous_hash: str, content: dict[str, Any], mac: Any | None = None) -> str:
    """The link's hash: an HMAC primed with a key (``AuditKeyring.mac``), or without one the legacy sha256."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    digest = mac if mac is not None else hashlib.sha256()
    digest.update((previous_hash + canonical).encode())
    return str(digest.hexdigest())


def chunk_record_content(chunk: BatchChunk, job: BatchJob, results_sha256: str, errors_sha256: str) -> dict[str, Any]:
    """A batch chunk's link: its place in the file, the model, and digests of every row it stored."""
    return {
        "kind": "batch_chunk",
        "job_id": str(job.id),
        "uploaded_by_id": job.uploaded_by_id,
        "file_sha256": job.file_sha256,
        "index": chunk.index,
        "sequence": chunk.sequence,
        "first_line": chunk.first_line,
        "line_count": chunk.line_count,
        "rows_done": chunk.rows_done,
        "rows_failed": chunk.rows_failed,
        "model_version": job.model_version.version if job.model_version else None,
        "threshold": job.threshold,
        "results_sha256": results_sha256,
        "errors_sha256": errors_sha256,
        "finished_at": _instant(chunk.finished_at),
    }


def outcome_upload_record_content(upload: OutcomeUpload, outcomes_sha256: str, listed_sha256: str) -> dict[str, Any]:
    """An outcome upload's link: who sent which file, what it counted, and digests of every row it stored."""
    return {
        "kind": "outcome_upload",
        "id": str(upload.id),
        "sequence": upload.sequence,
        "uploaded_by_id": upload.uploaded_by_id,
        "decisions_of_id": upload.decisions_of_id,
        "channel": upload.channel,
        "original_name": upload.original_name,
        "note": upload.note,
        "size_bytes": upload.size_bytes,
        "file_sha256": upload.file_sha256,
        "rows": upload.rows,
        "applied": upload.applied,
        "counts": upload.counts,
        "ignored_columns": upload.ignored_columns,
        "outcomes_sha256": outcomes_sha256,
        "listed_sha256": listed_sha256,
        "created_at": _instant(upload.created_at),
    }


def chain_head_lock() -> AuditChainHead:
    """The chain head, locked until the caller's transaction ends: one statement once the head exists."""
    try:
        return AuditChainHead.objects.select_for_update().get(id=1)
    except AuditChainHead.DoesNotExist:
        # The first link ever: create the head (a concurrent first link may create it too), then lock it.
        AuditChainHead.objects.bulk_create([AuditChainHead(id=1)], ignore_conflicts=True)
        return AuditChainHead.objects.select_for_update().get(id=1)


def chain_append(head: AuditChainHead, request: ScoreRequest, model_version_label: str | None) -> None:
    """Give ``request`` the next place in the chain (caller saves both, in one transaction)."""
    keyring = audit_keyring()
    request.sequence = head.sequence + 1
    request.previous_hash, request.audit_key_id = head.record_hash, keyring.current_id
    request.record_hash = chain_hash(
        head.record_hash, record_content(request, model_version_label), keyring.mac(keyring.current_id)
    )
    head.sequence, head.record_hash = request.sequence, request.record_hash


def chain_link_chunk(head: AuditChainHead, chunk: BatchChunk, job: BatchJob) -> None:
    """Give a finished batch chunk the next place in the chain (caller saves both, in one transaction)."""
    keyring = audit_keyring()
    chunk.sequence = head.sequence + 1
    chunk.previous_hash, chunk.audit_key_id = head.record_hash, keyring.current_id
    content = chunk_record_content(chunk, job, chunk.results_sha256, chunk.errors_sha256)
    chunk.record_hash = chain_hash(head.record_hash, content, keyring.mac(keyring.current_id))
    head.sequence, head.record_hash = chunk.sequence, chunk.record_hash


def chain_link_outcome_upload(head: AuditChainHead, upload: OutcomeUpload) -> None:
    """Give an outcome upload the next place in the chain (caller saves both, in one transaction)."""
    keyring = audit_keyring()
    upload.sequence = head.sequence + 1
    upload.previous_hash, upload.audit_key_id = head.record_hash, keyring.current_id
    content = outcome_upload_record_content(upload, upload.outcomes_sha256, upload.listed_sha256)
    upload.record_hash = chain_hash(head.record_hash, content, keyring.mac(keyring.current_id))
    head.sequence, head.record_hash = upload.sequence, upload.record_hash


@dataclass(frozen=True)
class AuditProblem:
    sequence: int | None
    request_id: str | None
    problem: str

    def __str__(self) -> str:
        where = f"record {self.sequence}" if self.sequence is not None else "chain"
        return f"{where} ({self.request_id or '-'}): {self.problem}"


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
    from scoring.services.audit_checkpoints import checkpoints_read  # it imports this module

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
    from scoring.services.batches import errors_digest, results_digest  # batches imports this module

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
    from scoring.services.outcomes import OUTCOME_DIGESTED, listed_digest, outcomes_digest  # it imports this module

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
