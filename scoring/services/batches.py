"""Bulk scoring jobs: store the upload, index the file, score every chunk exactly once, finish the job.

Exactly once, by construction: a chunk's results, its row errors, its link in the audit chain and
the job's counters are written in one transaction that first locks the chunk and checks it is
still queued. A worker killed mid-chunk commits nothing; the chunk is delivered again (Celery's
late acknowledgement, or the periodic sweep) and scored from scratch. A second delivery of a chunk
already done changes nothing, and a unique (job, line) constraint makes a duplicate row impossible.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import operator
import os
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
from ml.batch import (
    ChunkSpan,
    IndexLimits,
    LineIndex,
    index_lines,
    inspect_head,
    parse_chunk,
    read_head,
    read_span,
)
from ml.file_formats import DataFormatError, Layout, RowProblem
from ml.predict import most_important, score_and_explain_applications
from ml.registry import ArtifactUnusableError
from scoring.models import BatchChunk, BatchJob, BatchResult, BatchRowError, ModelVersion
from scoring.queues import queue_size_reader
from scoring.selectors import model_version_load, points_scale
from scoring.services.audit import chain_head_lock, chain_link_chunk
from scoring.services.challenger import shadow_score_chunk
from scoring.services.dispatch import task_publish
from scoring.services.files import NoActiveModelError, model_version_for_scoring

logger = logging.getLogger(__name__)


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
            chunk_ids = [] if job.is_final else _queued_chunk_ids(job)
            transaction.on_commit(lambda: _drop(indexed[2] if indexed else None))
        else:
            chunk_ids = _store_index(job, *indexed)
        if dispatch and chunk_ids:
            _dispatch_chunks(chunk_ids)
    if job.is_final:
        batch_job_plain_copy_remove(job=job)
    return job


def _dispatch_chunks(chunk_ids: list[int]) -> None:
    from scoring.tasks import batch_chunk_process_task

    BatchChunk.objects.filter(pk__in=chunk_ids).update(dispatched_at=timezone.now())
    transaction.on_commit(lambda: [batch_chunk_process_task.apply_async((i,), queue=batch_queue()) for i in chunk_ids])


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


def _queued_chunk_ids(job: BatchJob) -> list[int]:
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


# -- one chunk ---------------------------------------------------------------------------------------


def batch_chunk_process(*, chunk_id: int, worker: str = "") -> BatchChunk:
    """Score one chunk and store it, exactly once (see the module's docstring); ``worker`` (its
    heartbeat hostname) is stored with the attempt, so the sweep can release the chunk at once
    if that worker dies."""
    chunk = BatchChunk.objects.select_related("job", "job__model_version").get(pk=chunk_id)
    job = chunk.job
    if chunk.status != BatchChunk.Status.QUEUED or job.status != BatchJob.Status.RUNNING:
        return _skip(chunk)
    attempts = chunk.attempts + 1
    BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunk.Status.QUEUED).update(
        attempts=F("attempts") + 1, rows_scored=0, claimed_by=worker
    )
    if attempts > settings.CREDITRISK_MAX_ATTEMPTS:
        batch_job_fail(
            job_id=job.pk,
            error=f"chunk {chunk.index} (lines {chunk.first_line}-"
            f"{chunk.first_line + chunk.line_count - 1}) was given up after "
            f"{attempts - 1} attempts that did not finish",
        )
        return chunk
    started = time.perf_counter()
    try:
        results, problems, applications = _score_chunk(job, chunk)
    except ArtifactUnusableError as exc:
        batch_job_fail(job_id=job.pk, error=str(exc))
        return chunk
    except FileNotFoundError:
        chunk.job.refresh_from_db()  # its files go when the job ends (cancelled): skip, else a real fault
        if chunk.job.is_final:
            return _skip(chunk)
        raise
    stored, by_this_delivery = _store_chunk(chunk.pk, results, problems, (time.perf_counter() - started) * 1000)
    if by_this_delivery:
        # Committed (and the job counted): only now the challenger, if any, scores the chunk in shadow.
        shadow_score_chunk(job=job, chunk=stored, applications=applications, results=results)
    return stored


def _skip(chunk: BatchChunk) -> BatchChunk:
    if chunk.status == BatchChunk.Status.QUEUED and chunk.job.is_final:
        BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunk.Status.QUEUED).update(
            status=BatchChunk.Status.CANCELLED
        )
    return chunk


def _score_chunk(job: BatchJob, chunk: BatchChunk) -> tuple[pd.DataFrame, list[RowProblem], pd.DataFrame]:
    """The chunk's decisions, its row problems and its valid rows (which the challenger scores too).

    The decisions are scored in slices of CREDITRISK_BATCH_PROGRESS_ROWS rows, each followed by the
    chunk's progress (``rows_scored``, committed at once). Nothing else is written here: the results
    are stored in one transaction by ``_store_chunk``."""
    layout = Layout.from_dict(job.layout)
    span = ChunkSpan(chunk.index, chunk.first_line, chunk.line_count, chunk.byte_start, chunk.byte_end)
    parsed = parse_chunk(read_span(job_source(job), span), chunk.first_line, layout)
    model_version = job.model_version
    scorer = model_version_load(model_version=model_version)  # checksum verified, or ArtifactUnusableError
    options = {
        "reference": model_version.reference_applicant,
        "scale": points_scale(),
        "threshold": job.threshold,
        "reason_columns": most_important(
            model_version.feature_importance, settings.CREDITRISK_BATCH_REASON_INPUTS, model_version.excluded_features
        ),
        "declined_only": settings.CREDITRISK_BATCH_REASONS == "declined",
    }
    frame, step = parsed.frame, max(1, settings.CREDITRISK_BATCH_PROGRESS_ROWS)
    slices, gave_way = [], 0.0
    for start in range(0, max(len(frame), 1), step):  # an empty chunk is one empty slice
        gave_way += give_way_to_single_scores()
        slices.append(score_and_explain_applications(scorer, frame.iloc[start : start + step], **options))
        if start + step < len(frame):  # the last slice is counted when the chunk is stored
            _report_progress(chunk, start + step)
    gave_way += give_way_to_single_scores()  # before the chunk's COPY, which runs at the database's priority
    if gave_way >= 0.5:
        logger.info("bulk job %s chunk %s gave way to single scores for %.1f s", job.pk, chunk.index, gave_way)
    scored = pd.concat(slices, ignore_index=True) if len(slices) != 1 else slices[0]
    scored.insert(0, "line", parsed.lines)
    scored.insert(1, "external_id", frame[schema.ID_COLUMN].astype("Int64").to_numpy())
    return scored, parsed.problems, frame


def give_way_to_single_scores() -> float:
    """Bulk work waits while single scores wait: between the slices of a chunk, and before storing it,
    as long as messages wait in the single-score queue (every scoring process is busy) and that queue
    is moving, the bulk worker sleeps, for at most CREDITRISK_BATCH_GIVE_WAY_SECONDS each time (0:
    never), so that a lender waiting on one answer gets the CPU a bulk job would otherwise share.

    A queue that does not shrink for GIVE_WAY_STALL_POLLS polls is not being served by anyone else
    (no scoring worker, or every process of a worker that serves both queues is on bulk work):
    waiting longer would only delay both, so the bulk work goes on. Returns the seconds waited."""
    limit, poll = settings.CREDITRISK_BATCH_GIVE_WAY_SECONDS, settings.CREDITRISK_BATCH_GIVE_WAY_POLL_SECONDS
    if limit <= 0:
        return 0.0
    started = time.monotonic()
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with queue_size_reader() as size:
        last, still = size(queue) or 0, 0
        while last > 0 and still < GIVE_WAY_STALL_POLLS and time.monotonic() - started < limit:
            time.sleep(poll)
            now = size(queue) or 0
            still = 0 if now < last else still + 1
            last = now
    return time.monotonic() - started


GIVE_WAY_STALL_POLLS = 10  # a single-score queue that has not shrunk for this many polls is not being served


def _report_progress(chunk: BatchChunk, rows_scored: int) -> None:
    # An UPDATE of its own (autocommit in a worker): readers see it while the chunk is still running.
    BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunk.Status.QUEUED).update(rows_scored=rows_scored)


@transaction.atomic
def _store_chunk(
    chunk_id: int, results: pd.DataFrame, problems: list[RowProblem], scoring_ms: float
) -> tuple[BatchChunk, bool]:
    """The chunk as stored, and whether this call stored its results (not another delivery, not a cancel)."""
    chunk = BatchChunk.objects.select_for_update().get(pk=chunk_id)
    if chunk.status != BatchChunk.Status.QUEUED:
        return chunk, False  # another delivery of this chunk got here first
    job = BatchJob.objects.select_for_update().get(pk=chunk.job_id)
    if job.status != BatchJob.Status.RUNNING:
        chunk.status = BatchChunk.Status.CANCELLED
        chunk.save(update_fields=["status"])
        return chunk, False
    chunk.results_sha256 = _copy_results(job, chunk, results)
    BatchRowError.objects.bulk_create(
        BatchRowError(job=job, chunk=chunk, line=p.line, column=p.column, problem=p.problem) for p in problems
    )
    chunk.status, chunk.finished_at, chunk.scoring_ms = BatchChunk.Status.DONE, timezone.now(), scoring_ms
    chunk.rows_done, chunk.rows_failed = len(results), len({p.line for p in problems})
    chunk.errors_sha256 = errors_digest((p.line, p.column, p.problem) for p in problems)
    # The chain's head is the one lock every decision shares: taken last, so a single score waits for
    # this chunk's link and commit only, not for its rows to be copied and digested. The foreign keys
    # of the rows copied are checked now, not at COMMIT (Django makes them deferred): tens of
    # thousands of checks would otherwise run while the head is held.
    _check_deferred_constraints()
    head = chain_head_lock()
    chain_link_chunk(head, chunk, job)
    chunk.save()
    head.save()
    _count(job, chunk)
    return chunk, True


def _check_deferred_constraints() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # checks what is pending, and what follows, now


def _count(job: BatchJob, chunk: BatchChunk) -> None:
    job.rows_done += chunk.rows_done
    job.rows_failed += chunk.rows_failed
    job.chunks_done += 1
    if job.chunks_done == job.chunks_total:
        job.status, job.finished_at = BatchJob.Status.DONE, timezone.now()
        transaction.on_commit(lambda: batch_job_plain_copy_remove(job=job))
    job.save(update_fields=["rows_done", "rows_failed", "chunks_done", "status", "finished_at"])


# -- writing results in bulk -------------------------------------------------------------------------

_RESULT_COLUMNS = ("job_id", "chunk_id", "line", "external_id", "probability_bad", "score", "decision", "reasons")


def _copy_results(job: BatchJob, chunk: BatchChunk, results: pd.DataFrame) -> str:
    """All the chunk's rows in one statement (COPY on PostgreSQL, a bulk INSERT elsewhere); returns
    the digest of its results, hashed once over the same column-wise text as the rows."""
    fields = _result_fields(results)
    if results.empty:
        return hashlib.sha256(b"").hexdigest()
    if connection.vendor != "postgresql":
        BatchResult.objects.bulk_create(
            (
                BatchResult(
                    job=job,
                    chunk=chunk,
                    line=r.line,
                    external_id=_id(r.external_id),
                    probability_bad=r.probability_bad,
                    score=r.score,
                    decision=r.decision,
                    reasons=r.reasons,
                )
                for r in results.itertuples(index=False)
            ),
            batch_size=2000,
        )
        return _digest_fields(fields)
    prefix = f"{job.pk},{chunk.pk},"
    buffer = io.StringIO(
        "".join(
            f'{prefix}{line},{external_id},{probability},{score},{decision},"{reasons.replace(chr(34), chr(34) * 2)}"\n'
            for line, external_id, probability, score, decision, reasons in zip(*fields, strict=True)
        )
    )
    table = BatchResult._meta.db_table
    with connection.cursor() as cursor:
        # psycopg2's copy_expert streams the buffer: one round trip for the whole chunk.
        cursor.cursor.copy_expert(
            f"COPY {table} ({', '.join(_RESULT_COLUMNS)}) FROM STDIN WITH (FORMAT csv, NULL '')", buffer
        )
    return _digest_fields(fields)


def _result_fields(results: pd.DataFrame | Iterable[Any]) -> tuple[list[str], ...]:
    """The stored text of each result column: line, external id ("" if none), the probability's repr
    (it reads back as the same float), score, decision and the reasons as canonical JSON; from a
    chunk's results frame, or from rows read back (an audit)."""
    if isinstance(results, pd.DataFrame):
        columns = [results[name].to_numpy(dtype=object) for name in _DIGESTED]
    else:
        columns = list(zip(*map(operator.attrgetter(*_DIGESTED), results), strict=True))
        columns = columns or [[] for _ in _DIGESTED]
    lines, ids, probabilities, scores, decisions, reasons = columns
    return (
        [str(int(v)) for v in lines],
        ["" if _id(v) is None else str(int(v)) for v in ids],
        [repr(float(v)) for v in probabilities],
        [str(int(v)) for v in scores],
        [str(v) for v in decisions],
        [_json(v) if v else "[]" for v in reasons],
    )


_DIGESTED = ("line", "external_id", "probability_bad", "score", "decision", "reasons")


def _digest_fields(fields: tuple[list[str], ...]) -> str:
    lines, ids, probabilities, scores, decisions, reasons = fields
    text = "".join(
        f"{line}|{external_id or 'None'}|{probability}|{score}|{decision}|{reason}\n"
        for line, external_id, probability, score, decision, reason in zip(
            lines, ids, probabilities, scores, decisions, reasons, strict=True
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _id(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def results_digest(rows: Iterable[Any]) -> str:
    """sha256 of a chunk's results in line order; rows have line, external_id, probability_bad, score,
    decision and reasons (as stored and as read back, the same text): one line each,
    ``line|external_id|repr(probability)|score|decision|reasons JSON``."""
    return _digest_fields(_result_fields(rows))


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
