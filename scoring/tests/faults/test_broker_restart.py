"""Redis killed and restarted empty during a bulk job and single scoring: nothing lost, nothing doubled.

Redis here keeps nothing on disk, so the restart loses every queued message and every message a
worker held unacknowledged. What makes up for it is in PostgreSQL: each chunk and request row says
whether it is done, and the periodic sweep (run by beat, here inside the worker) dispatches again
whatever has waited too long. Every task is idempotent, so a message that survived as well changes
nothing.
"""

from __future__ import annotations

import pytest
from django.db.models import Count

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import BatchChunk, BatchJob, BatchResult, ScoreRequest
from scoring.services.audit_verification import audit_verify
from scoring.tests.api.test_batches import _upload
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SWEEP = {"CREDITRISK_SWEEP_SECONDS": "1", "CREDITRISK_STALE_SECONDS": "3"}


def test_redis_restarted_mid_job_and_mid_scoring_loses_and_doubles_nothing(
    api, active_version, fault_workers, settings
):
    settings.CREDITRISK_BATCH_CHUNK_ROWS = 50
    rows = 1000
    fault_workers.start("restarted", beat=True, env=SWEEP)
    data = to_original_format(synthetic_applications(rows, seed=21).drop(columns=[schema.LABEL])).encode("latin-1")
    job_id = _upload(api, data).json()["id"]
    requests = [
        api.post("/api/v1/score-requests/?async=true", inputs, format="json").json()["id"]
        for inputs in applicant_inputs(seed=22, n=12)
    ]

    wait_for(lambda: BatchJob.objects.get(pk=job_id).chunks_done >= 2, 60, "the first chunks")
    fault_workers.broker.kill()
    fault_workers.broker.start()  # empty: the queued chunks and requests are gone with it
    waiting_chunks = BatchChunk.objects.filter(job_id=job_id, status="queued").count()
    assert waiting_chunks > 0 and fault_workers.broker.queue_length("batch") == 0

    wait_for(lambda: BatchJob.objects.get(pk=job_id).is_final, 90, "the job to finish")
    wait_for(
        lambda: not ScoreRequest.objects.exclude(status__in=["done", "failed"]).exists(),
        30,
        "every request to be final",
    )

    job = BatchJob.objects.get(pk=job_id)
    assert (job.status, job.rows_done, job.rows_failed, job.chunks_done) == ("done", rows, 0, 20)
    results = BatchResult.objects.filter(job=job)
    assert results.count() == rows
    assert not results.values("line").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert set(results.values_list("line", flat=True)) == set(range(1, rows + 1))
    assert sorted(ScoreRequest.objects.values_list("id", flat=True)) == sorted(
        ScoreRequest.objects.filter(id__in=requests, status="done").values_list("id", flat=True)
    )
    assert ScoreRequest.objects.count() == len(requests)
    assert audit_verify() == (20 + len(requests), [])  # one link per chunk and per decision: none twice
