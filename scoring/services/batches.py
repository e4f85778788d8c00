"""Bulk scoring jobs: store the upload, index the file, score every chunk exactly once, finish the job.

Exactly once, by construction: a chunk's results, its row errors, its link in the audit chain and
the job's counters are written in one transaction that first locks the chunk and checks it is
still queued. A worker killed mid-chunk commits nothing; the chunk is delivered again (Celery's
late acknowledgement, or the periodic sweep) and scored from scratch. A second delivery of a chunk
already done changes nothing, and a unique (job, line) constraint makes a duplicate row impossible.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ml import schema
from ml.batch import ChunkSpan, Layout, index_lines, inspect_head, parse_chunk, read_head, read_span
from ml.data import DataFormatError, RowProblem
from ml.predict import most_important, score_and_explain_applications
from ml.registry import ArtifactIntegrityError
from scoring.models import BatchChunk, BatchJob, BatchResult, BatchRowError
from scoring.selectors import model_version_load, points_scale
from scoring.services.audit import chain_head_lock, chain_link_chunk
from scoring.services.dispatch import task_publish
from scoring.services.files import NoActiveModelError, model_version_for_scoring


class UploadTooLargeError(ValueError):
    """The upload is larger than CREDITRISK_MAX_UPLOAD_BYTES."""


def upload_size_message() -> str:
    limit = settings.CREDITRISK_MAX_UPLOAD_BYTES
    return f"the file is larger than the limit of {limit:,} bytes ({limit / 1024**2:,.0f} MiB); split it or compress it with gzip"


def batch_queue() -> str:
    """The Celery queue of bulk work, apart from single scoring so a big file never delays a lender."""
    return settings.CREDITRISK_BATCH_QUEUE


def job_folder(job: BatchJob) -> Path:
    return settings.CREDITRISK_BATCH_DIR / str(job.id)


def job_source(job: BatchJob) -> Path:
    """The file chunks are read from: the upload, or its decompressed copy for a gzip upload."""
    folder = job_folder(job)
    return folder / "plain.txt" if job.layout.get("compressed") else folder / job.stored_path


# -- creating a job ----------------------------------------------------------------------------------


def batch_job_create(
    *, content: Iterable[bytes], original_name: str, uploaded_by: Any, channel: str, dispatch: bool = True
) -> BatchJob:
    """Store the file (streamed to disk), check its head, and queue it; DataFormatError if it is wrong.

    ``content`` yields the file in pieces (an upload's ``chunks()``), so no file is ever held whole
    in memory. A file refused here leaves nothing behind, and neither does a broker that cannot take
    the job (QueueUnavailableError: the task is published inside the transaction, see
    ``scoring/services/dispatch.py``). ``dispatch=False`` is for a caller that runs the job itself
    (``score_csv``): no message, and no broker needed.
    """
    from scoring.tasks import batch_job_index_task  # the task module imports this one

    job_id = uuid.uuid4()
    folder = settings.CREDITRISK_BATCH_DIR / str(job_id)
    folder.mkdir(parents=True, exist_ok=False)
    try:
        size = _store(content, folder / "upload")
        head, compressed = read_head(folder / "upload")
        layout = inspect_head(head, compressed=compressed)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    user = uploaded_by if uploaded_by is not None and uploaded_by.is_authenticated else None
    try:
        with transaction.atomic():
            job = BatchJob.objects.create(
                id=job_id, uploaded_by=user, channel=channel, original_name=Path(original_name).name[:255] or "upload",
                stored_path="upload", size_bytes=size, layout=layout.as_dict(),
                chunk_rows=settings.CREDITRISK_BATCH_CHUNK_ROWS, dispatched_at=timezone.now() if dispatch else None,
            )  # fmt: skip
            if dispatch:
                task_publish(batch_job_index_task, (str(job_id),), queue=batch_queue())
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return job


def _store(content: Iterable[bytes], destination: Path) -> int:
    size, limit = 0, settings.CREDITRISK_MAX_UPLOAD_BYTES
    with destination.open("wb") as out:
        for piece in content:
            size += len(piece)
            if size > limit:
                raise UploadTooLargeError(upload_size_message())
            out.write(piece)
    return size


# -- indexing ----------------------------------------------------------------------------------------


def batch_job_index(*, job_id: Any, dispatch: bool = True) -> BatchJob:
    """Count the rows, cut the file into chunks and queue them, with the model pinned for the whole job."""
    from scoring.tasks import batch_chunk_process_task

    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job_id)
        if job.is_final or job.chunks_total is not None:
            chunk_ids = [] if job.is_final else _queued_chunk_ids(job)
        else:
            try:
                chunk_ids = _index(job)
            except (DataFormatError, NoActiveModelError) as exc:
                return _fail(job, str(exc))
        if dispatch and chunk_ids:
            BatchChunk.objects.filter(pk__in=chunk_ids).update(dispatched_at=timezone.now())
            transaction.on_commit(lambda: [batch_chunk_process_task.apply_async((i,), queue=batch_queue()) for i in chunk_ids])
    return job


def _index(job: BatchJob) -> list[int]:
    model_version = model_version_for_scoring()
    layout = Layout.from_dict(job.layout)
    folder = job_folder(job)
    plain = folder / "plain.txt" if layout.compressed else None
    index = index_lines(folder / job.stored_path, layout, job.chunk_rows, plain)
    chunks = BatchChunk.objects.bulk_create(
        BatchChunk(job=job, index=s.index, first_line=s.first_line, line_count=s.line_count,
                   byte_start=s.byte_start, byte_end=s.byte_end)
        for s in index.chunks
    )  # fmt: skip
    job.file_sha256, job.rows_total, job.chunks_total = index.sha256, index.rows, len(chunks)
    job.model_version, job.threshold = model_version, model_version.threshold
    job.status, job.started_at = BatchJob.Status.RUNNING, timezone.now()
    job.save()
    return [c.pk for c in chunks]


def _queued_chunk_ids(job: BatchJob) -> list[int]:
    return list(job.chunks.filter(status=BatchChunk.Status.QUEUED).values_list("pk", flat=True))


def _fail(job: BatchJob, error: str) -> BatchJob:
    job.status, job.error, job.finished_at = BatchJob.Status.FAILED, error, timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    return job


def batch_job_fail(*, job_id: Any, error: str) -> BatchJob:
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job_id)
        return job if job.is_final else _fail(job, error)


def batch_job_cancel(*, job: BatchJob) -> BatchJob:
    """Stop a job: chunks not yet done are skipped; the rows already scored stay on record."""
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job.pk)
        if not job.is_final:
            job.status, job.finished_at = BatchJob.Status.CANCELLED, timezone.now()
            job.save(update_fields=["status", "finished_at"])
    return job


# -- one chunk ---------------------------------------------------------------------------------------


def batch_chunk_process(*, chunk_id: int) -> BatchChunk:
    """Score one chunk and store it, exactly once (see the module's docstring)."""
    chunk = BatchChunk.objects.select_related("job", "job__model_version").get(pk=chunk_id)
    job = chunk.job
    if chunk.status != BatchChunk.Status.QUEUED or job.status != BatchJob.Status.RUNNING:
        return _skip(chunk)
    attempts = chunk.attempts + 1
    BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunk.Status.QUEUED).update(attempts=F("attempts") + 1)
    if attempts > settings.CREDITRISK_MAX_ATTEMPTS:
        batch_job_fail(job_id=job.pk, error=f"chunk {chunk.index} (lines {chunk.first_line}-"
                                            f"{chunk.first_line + chunk.line_count - 1}) was given up after "
                                            f"{attempts - 1} attempts that did not finish")  # fmt: skip
        return chunk
    started = time.perf_counter()
    try:
        results, problems = _score_chunk(job, chunk)
    except ArtifactIntegrityError as exc:
        batch_job_fail(job_id=job.pk, error=str(exc))
        return chunk
    return _store_chunk(chunk.pk, results, problems, (time.perf_counter() - started) * 1000)


def _skip(chunk: BatchChunk) -> BatchChunk:
    if chunk.status == BatchChunk.Status.QUEUED and chunk.job.is_final:
        BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunk.Status.QUEUED).update(
            status=BatchChunk.Status.CANCELLED
        )
    return chunk


def _score_chunk(job: BatchJob, chunk: BatchChunk) -> tuple[pd.DataFrame, list[RowProblem]]:
    layout = Layout.from_dict(job.layout)
    span = ChunkSpan(chunk.index, chunk.first_line, chunk.line_count, chunk.byte_start, chunk.byte_end)
    parsed = parse_chunk(read_span(job_source(job), span), chunk.first_line, layout)
    model_version = job.model_version
    model = model_version_load(model_version=model_version)  # checksum verified, or ArtifactIntegrityError
    scored = score_and_explain_applications(
        model, parsed.frame, reference=model_version.reference_applicant,
        excluded=model_version.excluded_features, scale=points_scale(), threshold=job.threshold,
        reason_columns=most_important(model_version.feature_importance, settings.CREDITRISK_BATCH_REASON_INPUTS,
                                      model_version.excluded_features),
        declined_only=settings.CREDITRISK_BATCH_REASONS == "declined",
    )  # fmt: skip
    scored.insert(0, "line", parsed.lines)
    scored.insert(1, "external_id", parsed.frame[schema.ID_COLUMN].astype("Int64").to_numpy())
    return scored, parsed.problems


@transaction.atomic
def _store_chunk(chunk_id: int, results: pd.DataFrame, problems: list[RowProblem], scoring_ms: float) -> BatchChunk:
    chunk = BatchChunk.objects.select_for_update().get(pk=chunk_id)
    if chunk.status != BatchChunk.Status.QUEUED:
        return chunk  # another delivery of this chunk got here first
    job = BatchJob.objects.select_for_update().get(pk=chunk.job_id)
    if job.status != BatchJob.Status.RUNNING:
        chunk.status = BatchChunk.Status.CANCELLED
        chunk.save(update_fields=["status"])
        return chunk
    _copy_results(job, chunk, results)
    BatchRowError.objects.bulk_create(
        BatchRowError(job=job, chunk=chunk, line=p.line, column=p.column, problem=p.problem) for p in problems
    )
    chunk.status, chunk.finished_at, chunk.scoring_ms = BatchChunk.Status.DONE, timezone.now(), scoring_ms
    chunk.rows_done, chunk.rows_failed = len(results), len({p.line for p in problems})
    chunk.results_sha256 = results_digest(results.itertuples(index=False))
    chunk.errors_sha256 = errors_digest((p.line, p.column, p.problem) for p in problems)
    # The chain's head is the one lock every decision shares: taken last, so a single score waits for
    # this chunk's link and commit only, not for its rows to be copied and digested.
    head = chain_head_lock()
    chain_link_chunk(head, chunk, job)
    chunk.save()
    head.save()
    _count(job, chunk)
    return chunk


def _count(job: BatchJob, chunk: BatchChunk) -> None:
    job.rows_done += chunk.rows_done
    job.rows_failed += chunk.rows_failed
    job.chunks_done += 1
    if job.chunks_done == job.chunks_total:
        job.status, job.finished_at = BatchJob.Status.DONE, timezone.now()
    job.save(update_fields=["rows_done", "rows_failed", "chunks_done", "status", "finished_at"])


# -- writing results in bulk -------------------------------------------------------------------------

_RESULT_COLUMNS = ("job_id", "chunk_id", "line", "external_id", "probability_bad", "score", "decision", "reasons")


def _copy_results(job: BatchJob, chunk: BatchChunk, results: pd.DataFrame) -> None:
    """All the chunk's rows in one statement: COPY on PostgreSQL, a bulk INSERT elsewhere (SQLite)."""
    if results.empty:
        return
    if connection.vendor != "postgresql":
        BatchResult.objects.bulk_create(
            (BatchResult(job=job, chunk=chunk, line=r.line, external_id=_id(r.external_id),
                         probability_bad=r.probability_bad, score=r.score, decision=r.decision, reasons=r.reasons)
             for r in results.itertuples(index=False)),
            batch_size=2000,
        )  # fmt: skip
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for r in results.itertuples(index=False):
        writer.writerow((job.pk, chunk.pk, r.line, _id(r.external_id) if _id(r.external_id) is not None else "",
                         repr(float(r.probability_bad)), int(r.score), r.decision, _json(r.reasons)))  # fmt: skip
    buffer.seek(0)
    table = BatchResult._meta.db_table
    with connection.cursor() as cursor:
        # psycopg2's copy_expert streams the buffer: one round trip for the whole chunk.
        cursor.cursor.copy_expert(
            f"COPY {table} ({', '.join(_RESULT_COLUMNS)}) FROM STDIN WITH (FORMAT csv, NULL '')", buffer
        )


def _id(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def results_digest(rows: Iterable[Any]) -> str:
    """sha256 of a chunk's results in line order; rows have line, external_id, probability_bad, score,
    decision and reasons (as stored and as read back, the same text)."""
    digest = hashlib.sha256()
    for r in rows:
        digest.update(
            f"{r.line}|{_id(r.external_id)}|{float(r.probability_bad)!r}|{int(r.score)}|{r.decision}|"
            f"{_json(r.reasons)}\n".encode()
        )
    return digest.hexdigest()


def errors_digest(rows: Iterable[tuple[int, str, str]]) -> str:
    digest = hashlib.sha256()
    for line, column, problem in rows:
        digest.update(f"{line}|{column}|{problem}\n".encode())
    return digest.hexdigest()


# -- running a whole job here (the score_csv command) ------------------------------------------------


def batch_job_run_inline(*, job: BatchJob, progress: Any = None) -> BatchJob:
    """Index and score every chunk in this process, through the same code as the workers."""
    job = batch_job_index(job_id=job.pk, dispatch=False)
    for chunk_id in _queued_chunk_ids(job):
        batch_chunk_process(chunk_id=chunk_id)
        if progress:
            job.refresh_from_db()
            progress(job)
    job.refresh_from_db()
    return job


def stale_before() -> Any:
    return timezone.now() - timedelta(seconds=settings.CREDITRISK_STALE_SECONDS)
