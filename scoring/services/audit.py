"""The tamper-evident audit chain of final score requests.

Each final record stores ``record_hash = sha256(previous_hash + canonical JSON of its content)``
and its ``sequence`` in the chain. Appending locks the single chain-head row, so records are
chained one at a time in commit order.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scoring.models import AuditChainHead, BatchChunk, BatchJob, ScoreRequest

GENESIS_HASH = "0" * 64


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


def chain_hash(previous_hash: str, content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256((previous_hash + canonical).encode()).hexdigest()


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


def chain_head_lock() -> AuditChainHead:
    """The chain head, locked until the caller's transaction ends."""
    AuditChainHead.objects.get_or_create(id=1)
    return AuditChainHead.objects.select_for_update().get(id=1)


def chain_append(head: AuditChainHead, request: ScoreRequest, model_version_label: str | None) -> None:
    """Give ``request`` the next place in the chain (caller saves both, in one transaction)."""
    request.sequence = head.sequence + 1
    request.previous_hash = head.record_hash
    request.record_hash = chain_hash(head.record_hash, record_content(request, model_version_label))
    head.sequence, head.record_hash = request.sequence, request.record_hash


def chain_link_chunk(head: AuditChainHead, chunk: BatchChunk, job: BatchJob) -> None:
    """Give a finished batch chunk the next place in the chain (caller saves both, in one transaction)."""
    chunk.sequence = head.sequence + 1
    chunk.previous_hash = head.record_hash
    content = chunk_record_content(chunk, job, chunk.results_sha256, chunk.errors_sha256)
    chunk.record_hash = chain_hash(head.record_hash, content)
    head.sequence, head.record_hash = chunk.sequence, chunk.record_hash


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
    content: dict[str, Any]
    extra_problem: str = ""


def audit_verify(*, batch_size: int = 5000) -> tuple[int, list[AuditProblem]]:
    """Walk the chain in order (single decisions and batch chunks); returns records checked and every break."""
    problems = list(_unchained_final_records())
    expected_sequence, previous_hash, checked = 1, GENESIS_HASH, 0
    for link in heapq.merge(_request_links(batch_size), _chunk_links(), key=lambda link: link.sequence):
        checked += 1
        if link.sequence != expected_sequence:
            problems.append(AuditProblem(link.sequence, link.record_id,
                                         f"expected record {expected_sequence} here: records are missing "
                                         "(deleted) or reordered"))  # fmt: skip
        if link.previous_hash != previous_hash:
            problems.append(AuditProblem(link.sequence, link.record_id,
                                         "does not link to the record before it (deleted or reordered)"))  # fmt: skip
        if link.extra_problem:
            problems.append(AuditProblem(link.sequence, link.record_id, link.extra_problem))
        if chain_hash(link.previous_hash, link.content) != link.record_hash:
            problems.append(AuditProblem(link.sequence, link.record_id, "content was edited after the decision"))
        expected_sequence, previous_hash = link.sequence + 1, link.record_hash
    head = AuditChainHead.objects.filter(id=1).first()
    if head and (head.sequence, head.record_hash) != (expected_sequence - 1, previous_hash):
        problems.append(AuditProblem(None, None, f"the chain should end at record {head.sequence}, but its last "
                                                 f"record is {expected_sequence - 1}: records at the end were "
                                                 "deleted or altered"))  # fmt: skip
    return checked, problems


def _request_links(batch_size: int) -> Iterator[_Link]:
    rows: Iterable[ScoreRequest] = (
        ScoreRequest.objects.filter(sequence__isnull=False)
        .select_related("model_version")
        .order_by("sequence")
        .iterator(chunk_size=batch_size)
    )
    for request in rows:
        label = request.model_version.version if request.model_version else None
        yield _Link(request.sequence or 0, str(request.id), request.previous_hash, request.record_hash,
                    record_content(request, label))  # fmt: skip


def _chunk_links() -> Iterator[_Link]:
    """Batch chunks in order, their row digests recomputed from the stored results and errors."""
    from scoring.services.batches import errors_digest, results_digest  # batches imports this module

    chunks = (BatchChunk.objects.filter(sequence__isnull=False).select_related("job", "job__model_version")
              .order_by("sequence").iterator(chunk_size=200))  # fmt: skip
    for chunk in chunks:
        results = results_digest(chunk.results.order_by("line").iterator(chunk_size=5000))
        errors = errors_digest(chunk.row_errors.order_by("line", "id").values_list("line", "column", "problem")
                               .iterator(chunk_size=5000))  # fmt: skip
        changed = (results, errors) != (chunk.results_sha256, chunk.errors_sha256)
        yield _Link(chunk.sequence or 0, f"batch {chunk.job_id} chunk {chunk.index}", chunk.previous_hash,
                    chunk.record_hash, chunk_record_content(chunk, chunk.job, results, errors),
                    "rows of this batch chunk were edited, deleted or added" if changed else "")  # fmt: skip


def _unchained_final_records() -> Iterator[AuditProblem]:
    for request_id in ScoreRequest.objects.filter(
        status__in=ScoreRequest.FINAL_STATUSES, sequence__isnull=True
    ).values_list("id", flat=True)[:100]:
        yield AuditProblem(None, str(request_id), "a final record outside the chain")
    for job_id, index in BatchChunk.objects.filter(status=BatchChunk.Status.DONE, sequence__isnull=True).values_list(
        "job_id", "index"
    )[:100]:
        yield AuditProblem(None, f"batch {job_id} chunk {index}", "a finished batch chunk outside the chain")
