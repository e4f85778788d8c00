"""A worker's PostgreSQL sessions: kept from task to task, and terminated (pg_terminate_backend) in the
middle of a task or between tasks.

To hit the middle of a task every time, the test holds the audit chain's head row locked from its own
connection: the worker scores, opens its final transaction and waits on that lock; the test sees it
waiting in pg_stat_activity and terminates every session of the worker. The worker's transaction
rolls back, the task is retried (autoretry on DatabaseError), and once the lock is released the
work is stored once.
"""

from __future__ import annotations

import pytest

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import BatchJob, BatchResult, ScoreRequest
from scoring.services.audit_verification import audit_verify
from scoring.tests.api.test_batches import _upload
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import chain_head_held, database_admin, wait_for, waiting_on_a_lock

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = "pg-terminated"


def _terminate_worker_sessions(admin) -> int:
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [WORKER])
        return sum(1 for (done,) in cursor.fetchall() if done)


def _kill_sessions_mid_task(admin) -> None:
    wait_for(lambda: waiting_on_a_lock(admin, WORKER), 60, "the worker to wait inside its final transaction")
    assert _terminate_worker_sessions(admin) >= 1


def test_a_killed_database_session_mid_task_still_scores_each_request_once(api, active_version, fault_workers):
    fault_workers.start(WORKER)
    admin = database_admin()
    try:
        with chain_head_held():
            request_id = api.post(
                "/api/v1/score-requests/?async=true", applicant_inputs(seed=31)[0], format="json"
            ).json()["id"]
            _kill_sessions_mid_task(admin)
            assert ScoreRequest.objects.get(pk=request_id).status == "running"  # its final write rolled back
        wait_for(lambda: ScoreRequest.objects.get(pk=request_id).is_final, 30, "the request to be final")
    finally:
        admin.close()
    request = ScoreRequest.objects.get(pk=request_id)
    assert (request.status, request.sequence, request.attempts) == ("done", 1, 2)
    assert audit_verify() == (1, [])


def _worker_sessions(admin) -> set[tuple[int, object]]:
    with admin.cursor() as cursor:
        cursor.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = %s", [WORKER])
        return set(cursor.fetchall())


def test_a_worker_keeps_its_database_session_from_task_to_task(api, active_version, fault_workers):
    fault_workers.start(WORKER)
    admin = database_admin()
    try:
        sessions = []
        for seed in (33, 34, 35):
            response = api.post("/api/v1/score-requests/", applicant_inputs(seed=seed)[0], format="json")
            assert response.status_code == 201, response.content
            sessions.append(_worker_sessions(admin))
    finally:
        admin.close()
    # The heartbeat thread's and the pool process's, the same ones after every task: Celery's Django
    # fix-up closed the pool process's after each task, and the next task opened a new one.
    assert len(sessions[0]) == 2 and sessions[0] == sessions[1] == sessions[2], sessions


def test_a_worker_whose_idle_session_was_killed_still_scores_the_next_request(api, active_version, fault_workers):
    fault_workers.start(WORKER)
    admin = database_admin()
    try:
        assert api.post("/api/v1/score-requests/", applicant_inputs(seed=36)[0], format="json").status_code == 201
        assert _terminate_worker_sessions(admin) >= 1  # between tasks, the session the next task would use
        response = api.post("/api/v1/score-requests/", applicant_inputs(seed=37)[0], format="json")
    finally:
        admin.close()
    # The task's first statement fails, the task is retried on a new connection, within the wait.
    assert response.status_code == 201, response.content
    request = ScoreRequest.objects.get(pk=response.json()["id"])
    assert (request.status, request.attempts) == ("done", 1)
    assert audit_verify() == (2, [])


def test_a_killed_database_session_mid_chunk_still_stores_each_row_once(api, active_version, fault_workers, settings):
    settings.CREDITRISK_BATCH_CHUNK_ROWS = 100
    fault_workers.start(WORKER)
    data = to_original_format(synthetic_applications(300, seed=32).drop(columns=[schema.LABEL])).encode("latin-1")
    admin = database_admin()
    try:
        with chain_head_held():
            job_id = _upload(api, data).json()["id"]
            _kill_sessions_mid_task(admin)  # inside the first chunk's store: results, chain link, counters
            assert BatchJob.objects.get(pk=job_id).chunks_done == 0
        wait_for(lambda: BatchJob.objects.get(pk=job_id).is_final, 60, "the job to finish")
    finally:
        admin.close()
    job = BatchJob.objects.get(pk=job_id)
    assert (job.status, job.rows_done, job.chunks_done) == ("done", 300, 3)
    assert BatchResult.objects.filter(job=job).count() == 300
    assert sorted(BatchResult.objects.filter(job=job).values_list("line", flat=True)) == list(range(1, 301))
    first = job.chunks.order_by("index").first()
    assert first is not None and first.attempts == 2
    assert audit_verify() == (3, [])
