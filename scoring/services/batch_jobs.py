"""Bulk scoring jobs: store the upload and queue it, index the file into chunks with the model pinned
for the whole job, and end a job (failed, cancelled). Chunks are scored by ``batch_chunks``."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ml.batch import (
    IndexLimits,
    LineIndex,
    index_lines,
    inspect_head,
    read_head,
)
from ml.file_formats import DataFormatError, Layout
from scoring import queues
from scoring.model_registry import NoActiveModelError, model_version_for_scoring
from scoring.models import BatchChunk, BatchJob, ModelVersion
from scoring.services.batch_files import batch_job_plain_copy_remove, job_folder, upload_store

# -- creating a job ----------------------------------------------------------------------------------


def batch_job_create(
    *, content: Iterable[bytes], original_name: str, uploaded_by: Any, channel: str, dispatch: bool = True
) -> BatchJob:
    """Store the file (streamed to disk), check its head, and queue it; DataFormatError if it is wrong.

    ``content`` yields the file in pieces (an upload's ``chunks()``), so no file is ever held whole
    in memory. A file refused here leaves nothing behind, and neither does a broker that cannot take
    the job (QueueUnavailableError: the task is published inside the transaction, see
    ``scoring/queues.py``). ``dispatch=False`` is for a caller that runs the job itself
    (``score_csv``): no message, and no broker needed.
    """
    job_id = uuid.uuid4()
    folder = settings.CREDITRISK_BATCH_DIR / str(job_id)
    folder.mkdir(parents=True, exist_ok=False)
    try:
        size = upload_store(content, folder / "upload")
        head, compressed = read_head(folder / "upload")
        layout = inspect_head(head, compressed=compressed)
        if not compressed and size > settings.CREDITRISK_MAX_DECOMPRESSED_BYTES:  # known now, not after indexing
            raise IndexLimits(max_bytes=settings.CREDITRISK_MAX_DECOMPRESSED_BYTES).too_many_bytes(False)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    user = uploaded_by if uploaded_by is not None and uploaded_by.is_authenticated else None
    try:
        with transaction.atomic():
            job = BatchJob.objects.create(
                id=job_id,
                uploaded_by=user,
                channel=channel,
                original_name=Path(original_name).name[:255] or "upload",
                stored_path="upload",
                size_bytes=size,
                layout=layout.as_dict(),
                chunk_rows=settings.CREDITRISK_BATCH_CHUNK_ROWS,
                dispatched_at=timezone.now() if dispatch else None,
            )
            if dispatch:
                queues.send(queues.BATCH_JOB_INDEX, str(job_id))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return job


# -- indexing ----------------------------------------------------------------------------------------


class BatchJobCancelledError(Exception):
    """The job was cancelled (or ended otherwise) while this worker indexed it."""


def batch_job_index(*, job_id: Any, dispatch: bool = True) -> BatchJob:
    """Count the rows, cut the file into chunks and queue them, with the model pinned for the whole job.

    The long pass over the file holds no lock: the job's row is locked only to store the chunks,
    so a cancellation never waits for it (the pass checks the job's status as it goes, and stops).
    A second delivery indexing at the same time writes its own copy and finds, under the lock, that
    the job was indexed already: its work is dropped, so the job is indexed exactly once.
    """
    job = BatchJob.objects.get(pk=job_id)
    indexed = None
    if not job.is_final and job.chunks_total is None:
        try:
            indexed = _index(job)
        except (DataFormatError, NoActiveModelError) as exc:
            return batch_job_fail(job_id=job.pk, error=str(exc))
        except BatchJobCancelledError:
            job.refresh_from_db()
            return job
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job_id)
        if job.is_final or job.chunks_total is not None or indexed is None:
            chunk_ids = [] if job.is_final else queued_chunk_ids(job)
            transaction.on_commit(lambda: _drop(indexed[2] if indexed else None))
        else:
            chunk_ids = _store_index(job, *indexed)
        if dispatch and chunk_ids:
            _dispatch_chunks(chunk_ids)
    if job.is_final:
        batch_job_plain_copy_remove(job=job)
    return job


def _dispatch_chunks(chunk_ids: list[int]) -> None:
    BatchChunk.objects.filter(pk__in=chunk_ids).update(dispatched_at=timezone.now())
    for chunk_id in chunk_ids:
        queues.send_on_commit(queues.BATCH_CHUNK, chunk_id)


_Indexed = tuple[LineIndex, ModelVersion, Path | None]


def _index(job: BatchJob) -> _Indexed:
    """The file's index, the model to pin, and the decompressed copy written (under a name of its own)."""
    model_version = model_version_for_scoring()
    layout = Layout.from_dict(job.layout)
    folder = job_folder(job)
    plain = folder / f"plain.{uuid.uuid4().hex}.partial" if layout.compressed else None
    limits = IndexLimits(settings.CREDITRISK_MAX_DECOMPRESSED_BYTES, settings.CREDITRISK_MAX_JOB_ROWS)
    try:
        index = index_lines(
            folder / job.stored_path,
            layout,
            lambda rows: chunk_rows_for(rows, largest=job.chunk_rows),
            plain,
            limits=limits,
            check=_cancellation_check(job.pk),
        )
    except BaseException:
        _drop(plain)
        raise
    return index, model_version, plain


def _cancellation_check(job_id: Any) -> Any:
    """Called as the file streams: raises BatchJobCancelledError once the job has ended, at most one
    query every half second; and keeps the job's ``dispatched_at`` fresh, so the sweep does not
    take a long indexing for a lost message."""
    last = {"check": time.monotonic(), "beat": time.monotonic()}

    def check(_position: int) -> None:
        now = time.monotonic()
        if now - last["check"] < 0.5:
            return
        last["check"] = now
        if BatchJob.objects.filter(pk=job_id, status__in=BatchJob.FINAL_STATUSES).exists():
            raise BatchJobCancelledError(str(job_id))
        if now - last["beat"] >= 10:
            last["beat"] = now
            BatchJob.objects.filter(pk=job_id, status=BatchJob.Status.QUEUED).update(dispatched_at=timezone.now())

    return check


def _store_index(job: BatchJob, index: LineIndex, model_version: ModelVersion, plain: Path | None) -> list[int]:
    chunks = BatchChunk.objects.bulk_create(
        BatchChunk(
            job=job,
            index=s.index,
            first_line=s.first_line,
            line_count=s.line_count,
            byte_start=s.byte_start,
            byte_end=s.byte_end,
        )
        for s in index.chunks
    )
    job.file_sha256, job.rows_total, job.chunks_total = index.sha256, index.rows, len(chunks)
    job.chunk_rows = max(span.line_count for span in index.chunks)
    job.model_version, job.threshold = model_version, model_version.threshold
    job.status, job.started_at = BatchJob.Status.RUNNING, timezone.now()
    job.save()
    if plain is not None:
        os.replace(plain, job_folder(job) / "plain.txt")  # a commit that fails after this: indexed again
    return [c.pk for c in chunks]


def _drop(plain: Path | None) -> None:
    if plain is not None:
        plain.unlink(missing_ok=True)


def chunk_rows_for(lines: int, *, largest: int) -> int:
    """Lines a chunk: enough chunks for every worker process to take several (so they finish
    together, and a small file's progress moves chunk by chunk), none larger than ``largest``
    (CREDITRISK_BATCH_CHUNK_ROWS, which bounds a chunk's memory and transaction)."""
    per_worker = settings.CREDITRISK_BATCH_CHUNKS_PER_WORKER * settings.CREDITRISK_BATCH_WORKERS
    smallest = min(settings.CREDITRISK_BATCH_MIN_CHUNK_ROWS, largest)
    return max(smallest, min(largest, -(-lines // per_worker)))


def queued_chunk_ids(job: BatchJob) -> list[int]:
    return list(job.chunks.filter(status=BatchChunk.Status.QUEUED).values_list("pk", flat=True))


def _fail(job: BatchJob, error: str) -> BatchJob:
    job.status, job.error, job.finished_at = BatchJob.Status.FAILED, error, timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    transaction.on_commit(lambda: batch_job_plain_copy_remove(job=job))
    return job


def batch_job_fail(*, job_id: Any, error: str) -> BatchJob:
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job_id)
        return job if job.is_final else _fail(job, error)


def batch_job_cancel(*, job: BatchJob) -> BatchJob:
    """Stop a job: chunks not yet done are skipped; the rows already scored stay on record.

    Answers at once in every state: no transaction holds the job's row for long (indexing locks
    it only to store the chunks, a chunk only to count its rows), and the indexing pass and the
    chunks check the status and stop. The decompressed copy of the file is removed now.
    """
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job.pk)
        if not job.is_final:
            job.status, job.finished_at = BatchJob.Status.CANCELLED, timezone.now()
            job.save(update_fields=["status", "finished_at"])
    batch_job_plain_copy_remove(job=job)
    return job
