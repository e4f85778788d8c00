"""The sweep: work whose worker died, or whose message was lost, is dispatched again, or given up visibly.

Every worker runs it from its heartbeat thread (scoring/signals.py) every CREDITRISK_SWEEP_SECONDS,
one at a time (a PostgreSQL advisory lock): it does not depend on any one worker, nor on beat.

- Work held by a dead worker. A worker stores its heartbeat hostname on the request or chunk it
  claims; a worker whose heartbeat is older than CREDITRISK_WORKER_LOST_SECONDS is dead, and what
  it held is released and dispatched again at once (its message would otherwise wait in Redis for
  the visibility timeout).
- Lost messages (Redis restarted empty, a process died between commit and publish). A row queued
  for longer than CREDITRISK_STALE_SECONDS, claimed by no live worker, is dispatched again only if
  its message is neither waiting in the queue (older than the oldest message waiting there) nor
  held by a worker that received it recently (scoring/broker_contents.py): a long queue is left to
  drain, without duplicates that would add load just when the service is overloaded.

Other apps' queued work is swept the same way: an app registers it with
``scoring.queues.swept_work_register`` (simulation runs do, from ``simulations/apps.py``), so this
module needs to know nothing of it.

At most CREDITRISK_SWEEP_MAX_DISPATCH pieces of work a run, oldest first. Every task is idempotent,
so dispatching work that is in fact still running costs a little time and never a duplicate.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from scoring import queues
from scoring.broker_contents import BrokerContents, broker_contents
from scoring.models import BatchChunk, BatchJob, ScoreRequest, WorkerHeartbeat
from scoring.services.score_requests import score_request_finalize

# One sweep at a time across every worker (pg_try_advisory_xact_lock's key).
SWEEP_LOCK = zlib.crc32(b"creditrisk.sweep")


def stale_work_sweep() -> dict[str, int]:
    """Release dead workers' work and dispatch lost work again; counts of what was done."""
    now = timezone.now()
    with transaction.atomic():
        if not _sweep_lock():
            return {"batch_jobs": 0, "batch_chunks": 0, "score_requests": 0, "score_requests_failed": 0} | {
                work.name: 0 for work in queues.swept_work()
            }
        # A worker's name changes with each start (scoring/signals.py): the long gone are forgotten.
        WorkerHeartbeat.objects.filter(last_seen__lt=now - timedelta(days=1)).delete()
        live = list(
            WorkerHeartbeat.objects.filter(
                last_seen__gte=now - timedelta(seconds=settings.CREDITRISK_WORKER_LOST_SECONDS)
            ).values_list("hostname", flat=True)
        )
        budget = _Budget(settings.CREDITRISK_SWEEP_MAX_DISPATCH)
        waiting = ScoreRequest.objects.filter(status__in=[ScoreRequest.Status.QUEUED, ScoreRequest.Status.RUNNING])
        requests = budget.take(_orphaned(waiting, live))
        chunks_waiting = BatchChunk.objects.filter(status=BatchChunk.Status.QUEUED, job__status=BatchJob.Status.RUNNING)
        chunks = budget.take(_orphaned(chunks_waiting, live))
        lost = _Lost(now, live)
        if budget.left:
            chunks += budget.take(lost.chunks(chunks_waiting.exclude(pk__in=chunks)))
            requests += budget.take(lost.requests(waiting.exclude(pk__in=requests)))
        jobs = budget.take(lost.jobs()) if budget.left else []
        others = {
            work.name: budget.take(lost.rows(work.queued(), queues.queue_for(work.task_name))) if budget.left else []
            for work in queues.swept_work()
        }
        given_up = _given_up(requests)
        requests = [pk for pk in requests if pk not in given_up]
        for model, ids in ((BatchJob, jobs), (BatchChunk, chunks), (ScoreRequest, requests + given_up)):
            _stamp(model, ids, now)
        for work in queues.swept_work():
            work.queued().filter(pk__in=others[work.name]).update(dispatched_at=now)
    _dispatch(jobs, chunks, requests)
    for work in queues.swept_work():
        for pk in others[work.name]:
            queues.send(work.task_name, str(pk))
    error = f"given up after {settings.CREDITRISK_MAX_ATTEMPTS} attempts that did not finish"
    for request in ScoreRequest.objects.filter(pk__in=given_up):
        score_request_finalize(score_request=request, error=error)
    return {
        "batch_jobs": len(jobs),
        "batch_chunks": len(chunks),
        "score_requests": len(requests),
        "score_requests_failed": len(given_up),
    } | {name: len(ids) for name, ids in others.items()}


def _sweep_lock() -> bool:
    """This transaction's sweep lock, if no other sweep holds it (always, off PostgreSQL)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SWEEP_LOCK])
        return bool(cursor.fetchone()[0])


class _Budget:
    """How many more pieces of work this run may dispatch."""

    def __init__(self, size: int) -> None:
        self.left = size

    def take(self, candidates: QuerySet) -> list[Any]:
        """Lock the rows of ``candidates`` no worker is storing right now, oldest first, within the budget."""
        if self.left <= 0:
            return []
        ids = list(
            candidates.order_by("dispatched_at")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[: self.left]
        )
        self.left -= len(ids)
        return ids


def _orphaned(waiting: QuerySet, live: list[str]) -> QuerySet:
    """Rows claimed by a worker that no longer beats."""
    return waiting.exclude(claimed_by="").exclude(claimed_by__in=live)


class _Lost:
    """Rows that waited longer than the stale age, claimed by no live worker, whose message the
    broker neither queues nor hands to a worker (read once, and only if there are such rows)."""

    def __init__(self, now: datetime, live: list[str]) -> None:
        self.before = now - timedelta(seconds=settings.CREDITRISK_STALE_SECONDS)
        self.live = live
        self._broker: BrokerContents | None | bool = False

    def requests(self, waiting: QuerySet) -> QuerySet:
        return self.rows(waiting.filter(Q(claimed_by="") | ~Q(claimed_by__in=self.live)), queues.scoring_queue())

    def chunks(self, waiting: QuerySet) -> QuerySet:
        return self.rows(waiting.filter(Q(claimed_by="") | ~Q(claimed_by__in=self.live)), queues.batch_queue())

    def jobs(self) -> QuerySet:
        return self.rows(BatchJob.objects.filter(status=BatchJob.Status.QUEUED), queues.batch_queue())

    def rows(self, rows: QuerySet, queue: str) -> QuerySet:
        """Those of ``rows`` (sent to ``queue``) dispatched before the stale age whose message is lost."""
        stale = rows.filter(dispatched_at__lt=self.before)
        candidates = list(stale.order_by("dispatched_at").values_list("pk", "dispatched_at")[:10_000])
        if not candidates:
            return stale.none()
        broker = self._contents()
        if broker is None:
            return stale  # the broker cannot be read: the row's age alone decides, as before
        received_before = self.before.timestamp()
        lost = [
            pk
            for pk, dispatched_at in candidates
            if not broker.may_be_waiting(queue, dispatched_at) and (broker.held_since(pk) or 0.0) < received_before
        ]
        return stale.filter(pk__in=lost)

    def _contents(self) -> BrokerContents | None:
        if self._broker is False:
            self._broker = broker_contents(queues.consumed_queues())
        return self._broker  # type: ignore[return-value]


def _given_up(request_ids: list[Any]) -> list[Any]:
    """Requests among ``request_ids`` that already used up their attempts: failed, not dispatched again."""
    attempts = settings.CREDITRISK_MAX_ATTEMPTS
    return list(ScoreRequest.objects.filter(pk__in=request_ids, attempts__gte=attempts).values_list("pk", flat=True))


def _stamp(model: Any, ids: list[Any], now: datetime) -> None:
    """Dispatched now, held by no worker: the locks taken above keep a row being finished out of this."""
    if not ids:
        return
    fields: dict[str, Any] = {"dispatched_at": now}
    if model is not BatchJob:
        fields["claimed_by"] = ""
    model.objects.filter(pk__in=ids).update(**fields)


def _dispatch(jobs: list[Any], chunks: list[Any], requests: list[Any]) -> None:
    """Sent after the sweep's transaction committed its stamps, so a worker finds them."""
    for job_id in jobs:
        queues.send(queues.BATCH_JOB_INDEX, str(job_id))
    for chunk_id in chunks:
        queues.send(queues.BATCH_CHUNK, chunk_id)
    for request_id in requests:
        queues.send(queues.SCORE_REQUEST, str(request_id))
