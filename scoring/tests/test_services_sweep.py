"""The periodic sweep: stalled work is dispatched again or given up visibly, never left queued."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from creditrisk.celery import app as celery_app
from scoring.models import BatchChunk, BatchJob, ScoreRequest
from scoring.services.batches import batch_job_create, batch_job_index
from scoring.services.score_requests import score_request_create, score_request_process
from scoring.services.sweep import stale_work_sweep
from scoring.tests.conftest import database_session
from scoring.tests.factories import applicant_inputs

pytestmark = pytest.mark.django_db


def _created_without_dispatch(django_capture_on_commit_callbacks) -> ScoreRequest:
    """A request whose process died between the commit and the publish of its task."""
    with django_capture_on_commit_callbacks(execute=False):
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


def test_a_request_that_keeps_dying_is_given_up_with_the_reason(active_version, settings,
                                                                  django_capture_on_commit_callbacks):  # fmt: skip
    settings.CREDITRISK_MAX_ATTEMPTS = 3
    request = _created_without_dispatch(django_capture_on_commit_callbacks)
    ScoreRequest.objects.filter(pk=request.pk).update(attempts=3, status="running",
                                                      dispatched_at=timezone.now() - timedelta(hours=1))  # fmt: skip
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
        job = batch_job_create(content=[trained["text"].encode("latin-1")], original_name="a.txt", uploaded_by=None,
                               channel="api")  # fmt: skip
    BatchJob.objects.filter(pk=job.pk).update(dispatched_at=timezone.now() - timedelta(hours=1))
    assert stale_work_sweep()["batch_jobs"] == 1
    with django_capture_on_commit_callbacks(execute=False):
        batch_job_index(job_id=job.pk)
    BatchChunk.objects.filter(job=job).update(dispatched_at=timezone.now() - timedelta(hours=1))
    assert stale_work_sweep()["batch_chunks"] == 6


def test_the_sweep_runs_periodically():
    entry = django_settings.CELERY_BEAT_SCHEDULE["sweep-stale-work"]
    assert entry["task"] in celery_app.tasks and entry["schedule"] == django_settings.CREDITRISK_SWEEP_SECONDS


@pytest.mark.django_db(transaction=True)
def test_a_chunk_a_worker_is_storing_right_now_is_skipped_not_waited_for(active_version, trained, settings):
    settings.CREDITRISK_BATCH_QUEUE = "no-worker-listens"
    job = batch_job_create(content=[trained["text"].encode("latin-1")], original_name="a.txt", uploaded_by=None,
                           channel="api", dispatch=False)  # fmt: skip
    batch_job_index(job_id=job.pk, dispatch=False)
    long_ago = timezone.now() - timedelta(hours=1)
    BatchChunk.objects.filter(job=job).update(dispatched_at=long_ago)
    storing = BatchChunk.objects.filter(job=job).order_by("index").first()
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
