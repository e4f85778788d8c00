"""The periodic sweep: stalled work is dispatched again or given up visibly, never left queued."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from creditrisk.celery import app as celery_app
from scoring import queues
from scoring.broker_contents import broker_contents
from scoring.models import BatchChunk, BatchJob, ScoreRequest, WorkerHeartbeat
from scoring.services import score_requests, sweep
from scoring.services.batch_jobs import batch_job_create, batch_job_index
from scoring.services.score_requests import score_request_create, score_request_process
from scoring.services.sweep import stale_work_sweep
from scoring.tests.conftest import broker_redis, database_session
from scoring.tests.factories import applicant_inputs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_broker() -> None:
    """No message of an earlier test in the queues: the sweep reads them to tell a lost message from
    one waiting (an old one left at the tail would make every row look as if it still waited)."""
    with celery_app.connection_for_write() as connection:
        broker_redis(connection).flushdb()


@pytest.fixture(autouse=True)
def private_sweep_lock(monkeypatch):
    """A Celery worker of the API tests, alive for the whole session, sweeps this database every few seconds
    under SWEEP_LOCK: these tests sweep under a lock of their own, so its sweep never makes theirs skip."""
    monkeypatch.setattr(sweep, "SWEEP_LOCK", sweep.SWEEP_LOCK + 1)


def _created_without_dispatch(django_capture_on_commit_callbacks) -> ScoreRequest:
    """A request whose message never reached a worker (lost with a Redis restart, say).

    Its task is published inside the transaction that stores it (scoring/queues.py), so
    holding back the on-commit callbacks alone would still send it, and in a test that commits the
    API tests' session worker would score it at once: the publish itself is left out.
    """
    with mock.patch.object(score_requests.queues, "send"), django_capture_on_commit_callbacks(execute=False):
        return score_request_create(inputs=applicant_inputs(seed=1)[0], requested_by=None, channel="api")


def test_a_request_never_dispatched_is_dispatched_again(active_version, settings, django_capture_on_commit_callbacks):
    settings.CREDITRISK_STALE_SECONDS = 60
    request = _created_without_dispatch(django_capture_on_commit_callbacks)
    assert stale_work_sweep()["score_requests"] == 0  # not stale yet
    ScoreRequest.objects.filter(pk=request.pk).update(dispatched_at=timezone.now() - timedelta(minutes=5))
    assert stale_work_sweep()["score_requests"] == 1
    request.refresh_from_db()
    assert timezone.now() - request.dispatched_at < timedelta(seconds=10)
    assert stale_work_sweep()["score_requests"] == 0  # dispatched once, not on every sweep


def test_a_request_that_keeps_dying_is_given_up_with_the_reason(
    active_version, settings, django_capture_on_commit_callbacks
):
    settings.CREDITRISK_MAX_ATTEMPTS = 3
    request = _created_without_dispatch(django_capture_on_commit_callbacks)
    ScoreRequest.objects.filter(pk=request.pk).update(
        attempts=3, status="running", dispatched_at=timezone.now() - timedelta(hours=1)
    )
    assert stale_work_sweep()["score_requests_failed"] == 1
    request.refresh_from_db()
    assert request.status == "failed" and "given up after 3 attempts" in request.error and request.sequence


def test_a_worker_gives_up_a_request_past_its_attempts(active_version, settings, django_capture_on_commit_callbacks):
    settings.CREDITRISK_MAX_ATTEMPTS = 2
    request = _created_without_dispatch(django_capture_on_commit_callbacks)
    ScoreRequest.objects.filter(pk=request.pk).update(attempts=2, status="running")
    done = score_request_process(score_request_id=str(request.pk))
    assert done.status == "failed" and "given up after 2 attempts" in done.error


def test_stalled_batch_work_is_dispatched_again(active_version, trained, settings, django_capture_on_commit_callbacks):
    settings.CREDITRISK_BATCH_QUEUE = "no-worker-listens"
    with django_capture_on_commit_callbacks(execute=False):
        job = batch_job_create(
            content=[trained["text"].encode("latin-1")], original_name="a.txt", uploaded_by=None, channel="api"
        )
    BatchJob.objects.filter(pk=job.pk).update(dispatched_at=timezone.now() - timedelta(hours=1))
    assert stale_work_sweep()["batch_jobs"] == 1
    with django_capture_on_commit_callbacks(execute=False):
        batch_job_index(job_id=job.pk)
    BatchChunk.objects.filter(job=job).update(dispatched_at=timezone.now() - timedelta(hours=1))
    assert stale_work_sweep()["batch_chunks"] == 6


def test_the_sweep_runs_in_every_workers_heartbeat_thread_not_in_beat():
    assert "scoring.tasks.sweep_task" not in {e["task"] for e in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert 0 < django_settings.CREDITRISK_SWEEP_SECONDS <= 10  # a dead worker's work moves within 30 s
    assert "scoring.tasks.sweep_task" in celery_app.tasks  # and it can still be sent by hand


@pytest.mark.django_db(transaction=True)
def test_one_sweep_at_a_time(active_version, settings, django_capture_on_commit_callbacks):
    # The request the sweep sends again goes where no worker listens: the API tests' session worker
    # would otherwise take it and lock its row while this test's teardown truncates the tables.
    settings.CELERY_TASK_DEFAULT_QUEUE = "no-worker-listens"
    request = _created_without_dispatch(django_capture_on_commit_callbacks)
    ScoreRequest.objects.filter(pk=request.pk).update(dispatched_at=timezone.now() - timedelta(hours=1))
    other = database_session()  # another worker's sweep, in the middle of its run
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [sweep.SWEEP_LOCK])
        assert stale_work_sweep()["score_requests"] == 0
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [sweep.SWEEP_LOCK])
    finally:
        other.close()
    swept = stale_work_sweep()
    assert swept["score_requests"] == 1, (swept, broker_contents([queues.scoring_queue()]))


def _heartbeat(hostname: str, seconds_ago: float) -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"last_seen": timezone.now() - timedelta(seconds=seconds_ago)}
    )


def test_a_dead_workers_request_is_dispatched_again_at_once_a_live_workers_is_not(
    active_version, settings, django_capture_on_commit_callbacks
):
    settings.CREDITRISK_WORKER_LOST_SECONDS = 15
    _heartbeat("dead@host", 16)
    _heartbeat("alive@host", 1)
    held_by_dead = _created_without_dispatch(django_capture_on_commit_callbacks)
    held_by_live = _created_without_dispatch(django_capture_on_commit_callbacks)
    ScoreRequest.objects.filter(pk=held_by_dead.pk).update(status="running", claimed_by="dead@host", attempts=1)
    ScoreRequest.objects.filter(pk=held_by_live.pk).update(
        status="running", claimed_by="alive@host", attempts=1, dispatched_at=timezone.now() - timedelta(hours=1)
    )
    assert stale_work_sweep()["score_requests"] == 1  # at once: not waiting for the stale age
    held_by_dead.refresh_from_db()
    assert held_by_dead.claimed_by == "" and timezone.now() - held_by_dead.dispatched_at < timedelta(seconds=10)
    assert stale_work_sweep()["score_requests"] == 0  # released once, not on every sweep


def test_a_dead_workers_chunk_is_dispatched_again_at_once(
    active_version, trained, settings, django_capture_on_commit_callbacks
):
    settings.CREDITRISK_BATCH_QUEUE = "no-worker-listens"
    _heartbeat("dead@host", 3600)
    with django_capture_on_commit_callbacks(execute=False):
        job = batch_job_create(
            content=[trained["text"].encode("latin-1")], original_name="a.txt", uploaded_by=None, channel="api"
        )
        batch_job_index(job_id=job.pk)
    chunk = BatchChunk.objects.filter(job=job).first()
    assert chunk is not None
    BatchChunk.objects.filter(pk=chunk.pk).update(claimed_by="dead@host", attempts=1)
    assert stale_work_sweep()["batch_chunks"] == 1


def test_a_run_dispatches_at_most_its_bound(active_version, settings, django_capture_on_commit_callbacks):
    settings.CREDITRISK_SWEEP_MAX_DISPATCH = 3
    for _ in range(5):
        _created_without_dispatch(django_capture_on_commit_callbacks)
    ScoreRequest.objects.update(dispatched_at=timezone.now() - timedelta(hours=1))
    assert [stale_work_sweep()["score_requests"] for _ in range(3)] == [3, 2, 0]


@pytest.mark.django_db(transaction=True)
def test_a_chunk_a_worker_is_storing_right_now_is_skipped_not_waited_for(active_version, trained, settings):
    settings.CREDITRISK_BATCH_QUEUE = "no-worker-listens"
    job = batch_job_create(
        content=[trained["text"].encode("latin-1")],
        original_name="a.txt",
        uploaded_by=None,
        channel="api",
        dispatch=False,
    )
    batch_job_index(job_id=job.pk, dispatch=False)
    long_ago = timezone.now() - timedelta(hours=1)
    BatchChunk.objects.filter(job=job).update(dispatched_at=long_ago)
    storing = BatchChunk.objects.filter(job=job).order_by("index").first()
    assert storing is not None
    # A worker in the middle of storing that chunk: its row locked and marked done, not yet committed.
    worker = database_session()
    try:
        with worker.cursor() as cursor:
            cursor.execute("UPDATE scoring_batchchunk SET status = 'done' WHERE id = %s", [storing.pk])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting on the worker fails the test instead of hanging it
        try:
            swept = stale_work_sweep()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
        worker.commit()  # the chunk is stored; stamping it now would be refused by its immutability trigger
    finally:
        worker.close()
    assert swept["batch_chunks"] == BatchChunk.objects.filter(job=job).count() - 1
    storing.refresh_from_db()
    assert (storing.status, storing.dispatched_at) == ("done", long_ago)
