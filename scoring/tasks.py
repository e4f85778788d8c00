"""Celery tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError

from scoring.models import BatchChunk, BatchJob, ScoreRequest
from scoring.services.batches import batch_chunk_process, batch_job_index
from scoring.services.score_requests import score_request_process
from scoring.services.sweep import stale_work_sweep

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def score_request_process_task(score_request_id: str) -> None:
    try:
        score_request_process(score_request_id=score_request_id)
    except ScoreRequest.DoesNotExist:
        # A message that outlived its row (a database restored from backup, a test database
        # dropped): nothing to score, and retrying cannot help.
        logger.warning("score request %s does not exist; message dropped", score_request_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(DatabaseError,), retry_backoff=True,
             max_retries=5)  # fmt: skip
def batch_job_index_task(job_id: str) -> None:
    try:
        batch_job_index(job_id=job_id)
    except BatchJob.DoesNotExist:
        logger.warning("batch job %s does not exist; message dropped", job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, autoretry_for=(DatabaseError,), retry_backoff=True,
             max_retries=5)  # fmt: skip
def batch_chunk_process_task(chunk_id: int) -> None:
    try:
        batch_chunk_process(chunk_id=chunk_id)
    except BatchChunk.DoesNotExist:
        logger.warning("batch chunk %s does not exist; message dropped", chunk_id)


@shared_task(ignore_result=True)
def sweep_task() -> None:
    swept = stale_work_sweep()
    if any(swept.values()):
        logger.warning("sweep: dispatched again or failed stale work: %s", swept)
