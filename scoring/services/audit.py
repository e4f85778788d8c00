"""The tamper-evident audit chain of final score requests.

Each final record stores ``record_hash = sha256(previous_hash + canonical JSON of its content)``
and its ``sequence`` in the chain. Appending locks the single chain-head row, so records are
chained one at a time in commit order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scoring.models import AuditChainHead, ScoreRequest

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


@dataclass(frozen=True)
class AuditProblem:
    sequence: int | None
    request_id: str | None
    problem: str

    def __str__(self) -> str:
        where = f"record {self.sequence}" if self.sequence is not None else "chain"
        return f"{where} ({self.request_id or '-'}): {self.problem}"


def audit_verify(*, batch_size: int = 5000) -> tuple[int, list[AuditProblem]]:
    """Walk the chain in order; returns the records checked and every break found."""
    problems = list(_unchained_final_records())
    expected_sequence, previous_hash, checked = 1, GENESIS_HASH, 0
    for request, label in _chain(batch_size):
        checked += 1
        if request.sequence != expected_sequence:
            problems.append(AuditProblem(request.sequence, str(request.id),
                                         f"expected record {expected_sequence} here: records are missing "
                                         "(deleted) or reordered"))  # fmt: skip
        if request.previous_hash != previous_hash:
            problems.append(
                AuditProblem(
                    request.sequence, str(request.id), "does not link to the record before it (deleted or reordered)"
                )
            )
        if chain_hash(request.previous_hash, record_content(request, label)) != request.record_hash:
            problems.append(AuditProblem(request.sequence, str(request.id), "content was edited after the decision"))
        expected_sequence, previous_hash = (request.sequence or 0) + 1, request.record_hash
    head = AuditChainHead.objects.filter(id=1).first()
    if head and (head.sequence, head.record_hash) != (expected_sequence - 1, previous_hash):
        problems.append(AuditProblem(None, None, f"the chain should end at record {head.sequence}, but its last "
                                                 f"record is {expected_sequence - 1}: records at the end were "
                                                 "deleted or altered"))  # fmt: skip
    return checked, problems


def _chain(batch_size: int) -> Iterator[tuple[ScoreRequest, str | None]]:
    rows: Iterable[ScoreRequest] = (
        ScoreRequest.objects.filter(sequence__isnull=False)
        .select_related("model_version")
        .order_by("sequence")
        .iterator(chunk_size=batch_size)
    )
    for request in rows:
        yield request, request.model_version.version if request.model_version else None


def _unchained_final_records() -> Iterator[AuditProblem]:
    for request_id in ScoreRequest.objects.filter(
        status__in=ScoreRequest.FINAL_STATUSES, sequence__isnull=True
    ).values_list("id", flat=True)[:100]:
        yield AuditProblem(None, str(request_id), "a final record outside the chain")
