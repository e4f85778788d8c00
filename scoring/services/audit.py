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
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings

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
