"""The same message delivered twice, to two workers at once: one decision, one audit record.

Redis re-delivers a message whose worker died or whose acknowledgement was lost, possibly while the
first delivery still runs elsewhere. Here the second copy is published by hand, and both copies are
held in flight together: the test locks the audit chain's head, so each worker scores and then
waits inside its final transaction; once both wait, the lock is released and they race to store.
"""

from __future__ import annotations

import pytest

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import BatchChunk, BatchJob, BatchResult, ScoreRequest
from scoring.services.audit_verification import audit_verify
from scoring.tasks import batch_chunk_process_task, score_request_process_task
from scoring.tests.api.test_batches import _upload
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import chain_head_held, database_admin, wait_for, waiting_on_a_lock

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = ("copy-a", "copy-b")


def _both_in_flight(admin) -> None:
    wait_for(
        lambda: all(waiting_on_a_lock(admin, name) for name in WORKERS),
        60,
        "both workers to hold a copy inside their final transaction",
    )


def _nothing_left(broker) -> bool:
    return broker.queue_length("scoring") == 0 and broker.queue_length("batch") == 0


def test_a_score_request_delivered_twice_at_once_is_decided_once(api, active_version, fault_workers):
    for name in WORKERS:
        fault_workers.start(name, queues="scoring")
    admin = database_admin()
    try:
        with chain_head_held():
            request_id = api.post(
                "/api/v1/score-requests/?async=true", applicant_inputs(seed=91)[0], format="json"
            ).json()["id"]
            score_request_process_task.apply_async((request_id,))  # the second copy
            _both_in_flight(admin)
        wait_for(lambda: ScoreRequest.objects.get(pk=request_id).is_final, 30, "the request to be final")
    finally:
        admin.close()
    request = ScoreRequest.objects.get(pk=request_id)
    assert (request.status, request.sequence, request.attempts) == ("done", 1, 2)  # both copies ran
    assert audit_verify() == (1, [])
    wait_for(lambda: _nothing_left(fault_workers.broker), 10, "both copies to be acknowledged")


def test_a_batch_chunk_delivered_twice_at_once_is_stored_once(api, active_version, fault_workers, settings):
    settings.CREDITRISK_BATCH_CHUNK_ROWS = 100
    for name in WORKERS:
        fault_workers.start(name, queues="batch")
    data = to_original_format(synthetic_applications(100, seed=92).drop(columns=[schema.LABEL])).encode("latin-1")
    admin = database_admin()
    try:
        with chain_head_held():
            job_id = _upload(api, data).json()["id"]
            wait_for(lambda: BatchChunk.objects.filter(job_id=job_id).exists(), 30, "the job to be indexed")
            batch_chunk_process_task.apply_async((BatchChunk.objects.get(job_id=job_id).pk,))  # the second copy
            _both_in_flight(admin)
        wait_for(lambda: BatchJob.objects.get(pk=job_id).is_final, 30, "the job to finish")
    finally:
        admin.close()
    job = BatchJob.objects.get(pk=job_id)
    assert (job.status, job.rows_done, job.chunks_done) == ("done", 100, 1)
    assert sorted(BatchResult.objects.filter(job=job).values_list("line", flat=True)) == list(range(1, 101))
    assert audit_verify() == (1, [])
    wait_for(lambda: _nothing_left(fault_workers.broker), 10, "both copies to be acknowledged")
