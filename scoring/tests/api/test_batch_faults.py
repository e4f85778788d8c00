"""Faults with real processes: a worker SIGKILLed in the middle of a bulk job loses and doubles nothing."""

from __future__ import annotations

import os
import signal

import pytest
from django.db import connection
from django.db.models import Count

from conftest import stop_process
from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import BatchChunk, BatchJob, BatchResult
from scoring.services.audit_verification import audit_verify
from scoring.tests.api.conftest import start_worker
from scoring.tests.api.test_batches import _upload
from scoring.tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FAULT_QUEUE = "batch-faults"  # only the workers of this test listen here


def _job(job_id: str) -> BatchJob:
    return BatchJob.objects.get(pk=job_id)


def test_a_worker_killed_mid_job_leaves_every_row_scored_exactly_once(
    api, active_version, trained, batch_dir, settings
):
    settings.CREDITRISK_BATCH_QUEUE = FAULT_QUEUE
    # 100 chunks of 10 rows: the worker needs seconds for the job, so the kill after the first chunks
    # lands mid-job even when this process is slow to poll (with 20 chunks the job once finished first).
    settings.CREDITRISK_BATCH_CHUNK_ROWS = 10
    rows = 1000
    data = to_original_format(synthetic_applications(rows, seed=5).drop(columns=[schema.LABEL])).encode("latin-1")
    job_id = _upload(api, data).json()["id"]
    worker = dict(
        database=connection.settings_dict["NAME"],
        queues=FAULT_QUEUE,
        model_dir=trained["folder"],
        batch_dir=batch_dir,
        extra_env={"CREDITRISK_BATCH_QUEUE": FAULT_QUEUE},
    )
    first = start_worker(name="doomed", **worker)
    try:
        wait_for(lambda: _job(job_id).chunks_done >= 3, 60, "the first chunks", pause=0.05)
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker, pool process included, mid-chunk
        first.wait(timeout=10)
    finally:
        stop_process(first)
    stalled = _job(job_id)
    assert stalled.status == "running" and stalled.chunks_total is not None
    assert stalled.chunks_done < stalled.chunks_total == 100

    second = start_worker(name="survivor", **worker)
    try:
        # The killed worker's chunk waits unacknowledged in Redis until the visibility timeout; its
        # heartbeat goes silent, and the survivor's sweep dispatches it again (scoring/services/sweep.py).
        wait_for(lambda: _job(job_id).is_final, 120, "the job to finish", pause=0.05)
    finally:
        stop_process(second)

    job = _job(job_id)
    assert (job.status, job.rows_done, job.rows_failed, job.chunks_done) == ("done", rows, 0, 100)
    assert BatchResult.objects.filter(job=job).count() == rows
    assert not BatchResult.objects.filter(job=job).values("line").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert set(BatchResult.objects.filter(job=job).values_list("line", flat=True)) == set(range(1, rows + 1))
    assert set(BatchChunk.objects.filter(job=job).values_list("status", flat=True)) == {"done"}
    assert audit_verify()[1] == []
