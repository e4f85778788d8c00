"""Celery tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError

from scoring.models import ScoreRequest
from scoring.services.score_requests import score_request_process

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
