"""Scoring the chunks of bulk jobs, exactly once, and writing their results in bulk.

Exactly once, by construction: a chunk's results, its row errors, its link in the audit chain and
the job's counters are written in one transaction that first locks the chunk and checks it is
still queued. A worker killed mid-chunk commits nothing; the chunk is delivered again (Celery's
late acknowledgement, or the periodic sweep) and scored from scratch. A second delivery of a chunk
already done changes nothing, and a unique (job, line) constraint makes a duplicate row impossible.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from ml import schema
from ml.batch import (
    ChunkSpan,
    parse_chunk,
    read_span,
)
from ml.file_formats import Layout, RowProblem
from ml.predict import most_important, score_and_explain_applications
from ml.registry import ArtifactUnusableError
from scoring.model_registry import model_version_load, points_scale
from scoring.models import BatchChunk, BatchJob, BatchResult, BatchRowError
from scoring.queues import queue_size_reader
from scoring.selectors import score_requests_received_since
from scoring.services.audit import chain_head_lock, chain_link_chunk
from scoring.services.audit_digests import digest_fields, errors_digest, external_id_or_none, result_fields
from scoring.services.batch_files import batch_job_plain_copy_remove, job_source
from scoring.services.batch_jobs import batch_job_fail, batch_job_index, queued_chunk_ids
from scoring.services.challenger import shadow_score_chunk
from scoring.services.commits import commit_without_waiting_for_the_disk

logger = logging.getLogger(__name__)
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
    storing = time.monotonic()
    stored, by_this_delivery = _store_chunk(chunk.pk, results, problems, (time.perf_counter() - started) * 1000)
    pace_beside_single_scores(time.monotonic() - storing)  # its COPY and checks ran at the database's priority
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
    assert model_version is not None  # set when the job was indexed, before its chunks were made
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
        worked = time.monotonic()
        slices.append(score_and_explain_applications(scorer, frame.iloc[start : start + step], **options))
        if start + step < len(frame):  # the last slice is counted when the chunk is stored
            _report_progress(chunk, start + step)
        gave_way += pace_beside_single_scores(time.monotonic() - worked)
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


def pace_beside_single_scores(worked: float) -> float:
    """While single scores are being requested (one within CREDITRISK_BATCH_SHARE_WINDOW_SECONDS), bulk
    work takes at most CREDITRISK_BATCH_SHARE of the time: after ``worked`` seconds of it, the worker
    pauses ``worked * (1 / share - 1)`` seconds (at most CREDITRISK_BATCH_GIVE_WAY_SECONDS, or 5 s).

    Giving way to a waiting queue is not enough: at a steady rate the single-score queue is rarely
    long, yet a bulk worker's statements (its COPY, the foreign-key checks, the WAL they write) run in
    a PostgreSQL backend at normal priority whatever the worker's own `nice`, and the web processes
    and the scoring workers queue behind them. Returns the seconds paused."""
    share = settings.CREDITRISK_BATCH_SHARE
    if share >= 1 or worked <= 0:
        return 0.0
    window = timedelta(seconds=settings.CREDITRISK_BATCH_SHARE_WINDOW_SECONDS)
    if not score_requests_received_since(since=timezone.now() - window):
        return 0.0
    pause = min(worked * (1 / share - 1), settings.CREDITRISK_BATCH_GIVE_WAY_SECONDS or 5.0)
    time.sleep(pause)
    return pause


def _report_progress(chunk: BatchChunk, rows_scored: int) -> None:
    # An UPDATE of its own (autocommit in a worker): readers see it while the chunk is still running.
    BatchChunk.objects.filter(pk=chunk.pk, status=BatchChunk.Status.QUEUED).update(rows_scored=rows_scored)


@transaction.atomic
def _store_chunk(
    chunk_id: int, results: pd.DataFrame, problems: list[RowProblem], scoring_ms: float
) -> tuple[BatchChunk, bool]:
    """The chunk as stored, and whether this call stored its results (not another delivery, not a cancel).

    Its COMMIT does not wait for the disk (scoring/services/commits.py). The chunk holds the audit
    chain's head until it commits, and a synchronous commit would first flush the ~10 MB of WAL its
    rows wrote, while every single decision waits for the head. Nothing is lost by it: a crash
    before the flush takes back the whole transaction (rows, link, counters), which leaves the chunk
    queued, and the sweep dispatches it again; any later synchronous commit (the next decision, the
    next chunk's progress) flushes it first; and a checkpoint of the chain's head waits for the
    flush before it names a head (audit_checkpoints.py)."""
    commit_without_waiting_for_the_disk()
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
    fields = result_fields(results)
    if results.empty:
        return hashlib.sha256(b"").hexdigest()
    if connection.vendor != "postgresql":
        rows: Iterable[Any] = results.itertuples(index=False)  # named tuples of the result columns
        BatchResult.objects.bulk_create(
            (
                BatchResult(
                    job=job,
                    chunk=chunk,
                    line=r.line,
                    external_id=external_id_or_none(r.external_id),
                    probability_bad=r.probability_bad,
                    score=r.score,
                    decision=r.decision,
                    reasons=r.reasons,
                )
                for r in rows
            ),
            batch_size=2000,
        )
        return digest_fields(fields)
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
    return digest_fields(fields)


# -- running a whole job here (the score_csv command) ------------------------------------------------


def batch_job_run_inline(*, job: BatchJob, progress: Any = None) -> BatchJob:
    """Index and score every chunk in this process, through the same code as the workers."""
    job = batch_job_index(job_id=job.pk, dispatch=False)
    for chunk_id in queued_chunk_ids(job):
        batch_chunk_process(chunk_id=chunk_id)
        if progress:
            job.refresh_from_db()
            progress(job)
    job.refresh_from_db()
    return job
