"""Signed checkpoints of the audit chain's head, kept outside the database.

A checkpoint is a small JSON document: the head's position and hash, when it was read, the id of
the audit key and an HMAC-SHA256 of those with that key. A periodic task writes one to a folder and,
where configured, under an ``s3://`` prefix; ``verify_audit`` compares the database chain with the
latest of them. Someone who can write to the database but has not the key can neither move the
chain back behind a checkpoint nor make a checkpoint of their own.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from scoring.models import AuditChainHead
from scoring.services.audit import AuditKeyring, AuditProblem, audit_keyring
from scoring.services.commits import flush_committed_work_to_disk

# Zero-padded position first: names sort by the chain's length, the latest last.
_NAME = re.compile(r"^(\d{15})-\d{8}T\d{12}Z\.json$")
_SIGNED_PREFIX = b"creditrisk audit checkpoint\n"  # never the start of a chain link (64 hex digits)


@dataclass(frozen=True)
class Checkpoint:
    sequence: int
    record_hash: str
    written_at: str
    key_id: str
    mac: str
    name: str = ""

    def signed_text(self) -> bytes:
        fields = {
            "sequence": self.sequence,
            "record_hash": self.record_hash,
            "written_at": self.written_at,
            "key_id": self.key_id,
        }
        return _SIGNED_PREFIX + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def document(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if k != "name"}, sort_keys=True, indent=1) + "\n"


def checkpoint_sign(*, sequence: int, record_hash: str, keyring: AuditKeyring) -> Checkpoint:
    now = timezone.now()
    unsigned = Checkpoint(
        sequence, record_hash, now.isoformat(), keyring.current_id, "", f"{sequence:015d}-{now:%Y%m%dT%H%M%S%f}Z.json"
    )
    mac = keyring.mac(keyring.current_id)
    assert mac is not None  # the current key is on the keyring
    mac.update(unsigned.signed_text())
    return Checkpoint(**{**asdict(unsigned), "mac": mac.hexdigest()})


_last_written: tuple[int, str] | None = None  # this process's last checkpoint: an idle chain is not signed again


def audit_checkpoint_write() -> Checkpoint | None:
    """Sign the chain's current head and store it in every checkpoint location; None if nothing is new."""
    global _last_written
    head = AuditChainHead.objects.filter(id=1).first()  # committed: every record it names is in the database
    if head is None or head.sequence == 0 or (head.sequence, head.record_hash) == _last_written:
        return None
    # Decisions and chunks commit without waiting for the disk: a head read a moment after such a commit
    # could be taken back by a crash, and a checkpoint naming it would then report an honest chain as cut.
    flush_committed_work_to_disk()
    checkpoint = checkpoint_sign(sequence=head.sequence, record_hash=head.record_hash, keyring=audit_keyring())
    for location in _locations():
        location.write(checkpoint.name, checkpoint.document())
    _last_written = (head.sequence, head.record_hash)
    return checkpoint


def checkpoints_read(keyring: AuditKeyring) -> tuple[list[Checkpoint], list[AuditProblem]]:
    """The latest checkpoints of every location whose signature holds, and a problem for each that does not."""
    checkpoints: dict[tuple[str, str], Checkpoint] = {}
    problems: list[AuditProblem] = []
    for location in _locations():
        try:
            names = sorted(name for name in location.names() if _NAME.match(name))
            latest = names[-settings.CREDITRISK_AUDIT_CHECKPOINTS_CHECKED :]
            documents = [(name, location.read(name)) for name in latest]
        except Exception as exc:  # noqa: BLE001 (a configured location that cannot be read fails the audit)
            problems.append(AuditProblem(None, None, f"checkpoints in {location} cannot be read: {exc}"))
            continue
        for name, text in documents:
            checkpoint, problem = _checked(name, text, keyring)
            if checkpoint:
                checkpoints[(name, checkpoint.record_hash)] = checkpoint
            else:
                problems.append(AuditProblem(None, None, f"checkpoint {name} in {location}: {problem}"))
    return sorted(checkpoints.values(), key=lambda c: (c.sequence, c.written_at)), problems


def _checked(name: str, text: str, keyring: AuditKeyring) -> tuple[Checkpoint | None, str]:
    try:
        checkpoint = Checkpoint(**json.loads(text), name=name)
        sequence = int(checkpoint.sequence)
    except (ValueError, TypeError) as exc:
        return None, f"not a checkpoint ({exc})"
    if f"{sequence:015d}" != name[:15]:
        return None, f"its name does not match its position {sequence} (renamed)"
    mac = keyring.mac(str(checkpoint.key_id))
    if mac is None:
        return None, f"signed with audit key {checkpoint.key_id}, which is not in the keyring"
    mac.update(checkpoint.signed_text())
    if not hmac.compare_digest(mac.hexdigest(), str(checkpoint.mac)):
        return None, "its signature does not match: forged or altered without the audit key"
    return checkpoint, ""


# -- where checkpoints are kept ------------------------------------------------------------------------


def _locations() -> list[Any]:
    locations: list[Any] = [_Folder(Path(settings.CREDITRISK_AUDIT_CHECKPOINT_DIR))]
    if settings.CREDITRISK_AUDIT_CHECKPOINT_URI:
        locations.append(_S3Prefix(settings.CREDITRISK_AUDIT_CHECKPOINT_URI))
    return locations


@dataclass(frozen=True)
class _Folder:
    path: Path

    def __str__(self) -> str:
        return str(self.path)

    def write(self, name: str, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then renamed: a reader never sees half a checkpoint.
        with tempfile.NamedTemporaryFile("w", dir=self.path, suffix=".tmp", delete=False) as handle:
            handle.write(text)
        os.replace(handle.name, self.path / name)

    def names(self) -> list[str]:
        return os.listdir(self.path) if self.path.is_dir() else []

    def read(self, name: str) -> str:
        return (self.path / name).read_text()


@dataclass(frozen=True)
class _S3Prefix:
    """``s3://bucket/prefix``: credentials and AWS_ENDPOINT_URL from the environment, as boto3 reads them."""

    uri: str

    def __str__(self) -> str:
        return self.uri

    @property
    def _bucket_prefix(self) -> tuple[str, str]:
        bucket, _, prefix = self.uri[len("s3://") :].partition("/")
        return bucket, prefix.rstrip("/") + "/" if prefix.strip("/") else ""

    @staticmethod
    def _client() -> Any:
        import boto3  # imported here: only S3 users pay for it

        return boto3.client("s3")

    def write(self, name: str, text: str) -> None:
        bucket, prefix = self._bucket_prefix
        self._client().put_object(Bucket=bucket, Key=prefix + name, Body=text.encode(), ContentType="application/json")

    def names(self) -> list[str]:
        bucket, prefix = self._bucket_prefix
        pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"][len(prefix) :] for page in pages for item in page.get("Contents", [])]

    def read(self, name: str) -> str:
        bucket, prefix = self._bucket_prefix
        return str(self._client().get_object(Bucket=bucket, Key=prefix + name)["Body"].read().decode())
