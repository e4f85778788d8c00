"""The periodic sweep: work that stalled is dispatched again, or given up visibly; never left queued for ever.

Work stalls when a worker dies mid-task (its message may wait for Redis's visibility timeout), when
Redis restarts and loses queued messages, or when a process dies between committing a row and
publishing its task. Every task is idempotent, so dispatching a piece of work that is in fact still
running costs a little time and never a duplicate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from scoring.models import BatchChunk, BatchJob, ScoreRequest
from scoring.services.batches import batch_queue


def stale_work_sweep() -> dict[str, int]:
    """Dispatch again what waited longer than CREDITRISK_STALE_SECONDS; counts of what was done."""
    from scoring.services.score_requests import score_request_finalize
    from scoring.tasks import batch_chunk_process_task, batch_job_index_task, score_request_process_task

    now = timezone.now()
    before = now - timedelta(seconds=settings.CREDITRISK_STALE_SECONDS)
    with transaction.atomic():
        jobs = _claim(BatchJob.objects.filter(status=BatchJob.Status.QUEUED, dispatched_at__lt=before), now)
        chunks = _claim(BatchChunk.objects.filter(status=BatchChunk.Status.QUEUED, job__status=BatchJob.Status.RUNNING,
                                                  dispatched_at__lt=before), now)  # fmt: skip
        waiting = ScoreRequest.objects.filter(Q(status=ScoreRequest.Status.QUEUED) | Q(status=ScoreRequest.Status.RUNNING),
                                              dispatched_at__lt=before)  # fmt: skip
        given_up = list(waiting.filter(attempts__gte=settings.CREDITRISK_MAX_ATTEMPTS).values_list("pk", flat=True))
        requests = _claim(waiting.exclude(pk__in=given_up), now)
    for request_id in given_up:
        score_request_finalize(score_request_id=request_id,
                               error=f"given up after {settings.CREDITRISK_MAX_ATTEMPTS} attempts that did not finish")  # fmt: skip
    for job_id in jobs:
        batch_job_index_task.apply_async((str(job_id),), queue=batch_queue())
    for chunk_id in chunks:
        batch_chunk_process_task.apply_async((chunk_id,), queue=batch_queue())
    for request_id in requests:
        score_request_process_task.delay(str(request_id))
    return {"batch_jobs": len(jobs), "batch_chunks": len(chunks), "score_requests": len(requests),
            "score_requests_failed": len(given_up)}  # fmt: skip


def _claim(stale: QuerySet, now: datetime) -> list[Any]:
    """Lock and stamp the rows of ``stale`` that no worker holds; their ids.

    A worker locks a chunk or a request to store its result: such a row is skipped, not waited
    for, and stays locked by this sweep until it has been stamped, so a row finished in between
    is never stamped (a finished chunk or request is immutable, and its trigger would refuse it).
    """
    ids = list(stale.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True))
    stale.model.objects.filter(pk__in=ids).update(dispatched_at=now)
    return ids
