"""The files of bulk jobs: the upload streamed to disk within its size limit, the decompressed copy
chunks are read from, and their removal (at once when a job ends, wholly after the retention)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from scoring.models import BatchJob


class UploadTooLargeError(ValueError):
    """The upload is larger than CREDITRISK_MAX_UPLOAD_BYTES."""


def upload_size_message() -> str:
    limit = settings.CREDITRISK_MAX_UPLOAD_BYTES
    return f"the file is larger than the limit of {limit:,} bytes ({limit / 1024**2:,.0f} MiB); split it or compress it with gzip"


def job_folder(job: BatchJob) -> Path:
    return settings.CREDITRISK_BATCH_DIR / str(job.id)


def job_source(job: BatchJob) -> Path:
    """The file chunks are read from: the upload, or its decompressed copy for a gzip upload."""
    folder = job_folder(job)
    return folder / "plain.txt" if job.layout.get("compressed") else folder / job.stored_path


def upload_store(content: Iterable[bytes], destination: Path) -> int:
    size, limit = 0, settings.CREDITRISK_MAX_UPLOAD_BYTES
    with destination.open("wb") as out:
        for piece in content:
            size += len(piece)
            if size > limit:
                raise UploadTooLargeError(upload_size_message())
            out.write(piece)
    return size


# -- the files of a job ------------------------------------------------------------------------------


def batch_job_plain_copy_remove(*, job: BatchJob) -> None:
    """Remove a job's decompressed copies, once it has ended (its upload stays for the retention).

    Nothing reads them once the job has ended: results, row errors and the audit chain are in
    PostgreSQL. A chunk still running when they go finds its job ended and is skipped.
    """
    folder = job_folder(job)
    for path in [*folder.glob("plain.txt"), *folder.glob("plain.*.partial")]:
        path.unlink(missing_ok=True)


def batch_files_purge(*, now: Any = None) -> int:
    """Remove the folders of jobs that ended more than CREDITRISK_BATCH_FILE_RETENTION_HOURS ago, and
    of uploads older than that with no job (a transaction that died after storing the file); how many."""
    now = now or timezone.now()
    before = now - timedelta(hours=settings.CREDITRISK_BATCH_FILE_RETENTION_HOURS)
    root = settings.CREDITRISK_BATCH_DIR
    folders = (
        {path.name: path for path in root.iterdir() if path.is_dir() and _is_uuid(path.name)} if root.is_dir() else {}
    )
    jobs = dict(BatchJob.objects.filter(pk__in=list(folders)).values_list("pk", "finished_at"))
    removed = 0
    for name, folder in folders.items():
        finished = jobs.get(uuid.UUID(name), "missing")
        if finished == "missing":
            expired = folder.stat().st_mtime < before.timestamp()
        else:
            expired = finished is not None and finished < before
        if expired:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True
