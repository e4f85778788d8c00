"""Celery tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

import logging
import time

from celery import Task, shared_task
from django.db import DatabaseError

from scoring.models import BatchChunk, BatchJob, ScoreRequest
from scoring.services.audit_checkpoints import audit_checkpoint_write
from scoring.services.batch_chunks import batch_chunk_process
from scoring.services.batch_files import batch_files_purge
from scoring.services.batch_jobs import batch_job_index
from scoring.services.drift import drift_report_weekly
from scoring.services.score_requests import score_request_process
from scoring.services.sweep import stale_work_sweep
from scoring.signals import worker_name

logger = logging.getLogger(__name__)

# A task is published inside the transaction that stores its row (scoring/queues.py), so
# it can arrive a moment before that transaction commits: wait for the row with these countdowns
# (about 3 s in all), then take it that the transaction rolled back and drop the message.
UNCOMMITTED_ROW_COUNTDOWNS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
# A single score's row is usually committed a few milliseconds after its message arrives: look again
# in this process first (about 40 ms in all), since a retry through the broker costs more than that.
UNCOMMITTED_ROW_PAUSES = (0.002, 0.004, 0.008, 0.012, 0.016)


def _wait_for_commit(task: Task, what: str, key: object) -> None:
    """Retry shortly while the row may still be uncommitted; then drop the message with a warning."""
    tries = task.request.retries
    if not task.request.called_directly and tries < len(UNCOMMITTED_ROW_COUNTDOWNS):
        raise task.retry(countdown=UNCOMMITTED_ROW_COUNTDOWNS[tries], max_retries=len(UNCOMMITTED_ROW_COUNTDOWNS))
    # A message that outlived its row (its transaction rolled back after the publish, a database
    # restored from backup, a test database dropped): nothing to score, and retrying cannot help.
    logger.warning("%s %s does not exist; message dropped", what, key)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def score_request_process_task(self: Task, score_request_id: str) -> None:
    for pause in (*UNCOMMITTED_ROW_PAUSES, None):
        try:
            score_request_process(score_request_id=score_request_id, worker=worker_name())
            return
        except ScoreRequest.DoesNotExist:
            if pause is None or self.request.retries or self.request.called_directly:
                break
            time.sleep(pause)
    _wait_for_commit(self, "score request", score_request_id)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def batch_job_index_task(self: Task, job_id: str) -> None:
    try:
        batch_job_index(job_id=job_id)
    except BatchJob.DoesNotExist:
        _wait_for_commit(self, "batch job", job_id)


@shared_task(
    acks_late=True, reject_on_worker_lost=True, autoretry_for=(DatabaseError,), retry_backoff=True, max_retries=5
)
def batch_chunk_process_task(chunk_id: int) -> None:
    try:
        batch_chunk_process(chunk_id=chunk_id, worker=worker_name())
    except BatchChunk.DoesNotExist:
        # Chunks are published after their job's indexing commits: a missing one is gone for good.
        logger.warning("batch chunk %s does not exist; message dropped", chunk_id)


@shared_task(ignore_result=True)
def sweep_task() -> None:
    swept = stale_work_sweep()
    if any(swept.values()):
        logger.warning("sweep: dispatched again or failed stale work: %s", swept)


@shared_task(ignore_result=True)
def audit_checkpoint_task() -> None:
    """Beat's signed checkpoint of the audit chain's head (a failed write is logged by Celery and retried next time)."""
    checkpoint = audit_checkpoint_write()
    if checkpoint:
        logger.info("audit checkpoint %s: the chain at record %s", checkpoint.name, checkpoint.sequence)


@shared_task(ignore_result=True)
def drift_report_task() -> None:
    """The last 7 days of decisions against the active version's development rows (logged and stored)."""
    drift_report_weekly()


@shared_task(ignore_result=True)
def batch_files_purge_task() -> None:
    removed = batch_files_purge()
    if removed:
        logger.info("purge: removed the files of %s ended batch jobs", removed)
