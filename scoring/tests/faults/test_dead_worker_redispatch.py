"""A worker SIGKILLed while it holds requests and chunks: another worker takes them within seconds.

The killed worker's messages stay unacknowledged in Redis until the visibility timeout (an hour);
what moves the work is its heartbeat going silent. Each request and chunk names the worker that
claimed it, and the surviving worker's sweep dispatches again at once whatever a dead worker held
(scoring/services/sweep.py). The workers here run with the production heartbeat, loss and sweep
settings, so the times measured are the ones an operator gets.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.db.models import Count

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import BatchChunk, BatchJob, BatchResult, ScoreRequest
from scoring.services.audit_verification import audit_verify
from scoring.tests.api.test_batches import _upload
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import chain_head_held, database_admin, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# The defaults of creditrisk/settings/base.py (start_worker's 1 s heartbeat would flatter the figures).
PRODUCTION_TIMING = {
    "CREDITRISK_HEARTBEAT_SECONDS": str(django_settings.CREDITRISK_HEARTBEAT_SECONDS),
    "CREDITRISK_WORKER_LOST_SECONDS": str(django_settings.CREDITRISK_WORKER_LOST_SECONDS),
    "CREDITRISK_SWEEP_SECONDS": str(django_settings.CREDITRISK_SWEEP_SECONDS),
}


def _sessions_waiting_on_a_lock(admin, worker: str) -> int:
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'", [worker]
        )
        return cursor.fetchone()[0]


def _kill_holding(fault_workers, doomed, admin) -> float:
    """Wait until both of the doomed worker's processes hold a task at its final write, kill it; the time."""
    wait_for(lambda: _sessions_waiting_on_a_lock(admin, "doomed") == 2, 60, "both processes to hold a task")
    fault_workers.kill(doomed)
    return time.monotonic()


def test_requests_of_a_killed_worker_are_done_within_30_seconds(api, active_version, fault_workers):
    doomed = fault_workers.start("doomed", concurrency=2, env=PRODUCTION_TIMING)
    admin = database_admin()
    try:
        with chain_head_held():
            ids = [
                api.post("/api/v1/score-requests/?async=true", inputs, format="json").json()["id"]
                for inputs in applicant_inputs(seed=31, n=20)
            ]
            killed_at = _kill_holding(fault_workers, doomed, admin)
        held = list(ScoreRequest.objects.filter(status="running").values_list("claimed_by", flat=True))
        assert len(held) == 2 and all(name.startswith("doomed-") for name in held)
        fault_workers.start("survivor", env=PRODUCTION_TIMING)
        wait_for(
            lambda: ScoreRequest.objects.filter(id__in=ids, status="done").count() == 20,
            30 - (time.monotonic() - killed_at),
            "every request to be done within 30 s of the kill",
        )
    finally:
        admin.close()
    elapsed = time.monotonic() - killed_at
    assert elapsed < 30
    print(f"20 requests done {elapsed:.1f} s after their worker was killed")
    assert ScoreRequest.objects.count() == 20
    assert not ScoreRequest.objects.values("sequence").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert audit_verify() == (20, [])  # one link each: none doubled


def test_chunks_of_a_killed_worker_are_done_within_a_minute(api, active_version, fault_workers, settings):
    settings.CREDITRISK_BATCH_CHUNK_ROWS = 50
    rows = 300
    doomed = fault_workers.start("doomed", concurrency=2, env=PRODUCTION_TIMING)
    data = to_original_format(synthetic_applications(rows, seed=32).drop(columns=[schema.LABEL])).encode("latin-1")
    admin = database_admin()
    try:
        with chain_head_held():
            job_id = _upload(api, data).json()["id"]
            killed_at = _kill_holding(fault_workers, doomed, admin)
        held = list(
            BatchChunk.objects.filter(job_id=job_id).exclude(claimed_by="").values_list("claimed_by", flat=True)
        )
        assert len(held) == 2 and all(name.startswith("doomed-") for name in held)
        fault_workers.start("survivor", env=PRODUCTION_TIMING)
        wait_for(
            lambda: BatchJob.objects.get(pk=job_id).is_final,
            60 - (time.monotonic() - killed_at),
            "the job to finish within a minute of the kill",
        )
    finally:
        admin.close()
    elapsed = time.monotonic() - killed_at
    print(f"the job's held chunks done {elapsed:.1f} s after their worker was killed")
    job = BatchJob.objects.get(pk=job_id)
    assert (job.status, job.rows_done, job.chunks_done) == ("done", rows, job.chunks_total)
    results = BatchResult.objects.filter(job=job)
    assert results.count() == rows and set(results.values_list("line", flat=True)) == set(range(1, rows + 1))
    assert audit_verify() == (job.chunks_total, [])
