"""Redis paused (SIGSTOP) longer than the broker socket timeout, then resumed: the worker scores again.

A paused server keeps its TCP connections open and answers nothing, as a half-open connection does
after a network partition or a failover. The worker is made to finish a task while Redis is paused
(the test holds the audit chain lock, pauses Redis, then lets the task finish), so the task's
acknowledgement meets the silent server and times out after the broker socket timeout. With
kombu's Redis transport as it is, that timed-out acknowledgement leaves the worker waiting for ever
for room to take its next message; creditrisk/broker.py fixes it, and this test fails without it.
"""

from __future__ import annotations

import time

import pytest

from scoring.models import ScoreRequest
from scoring.services.audit_verification import audit_verify
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import (
    WORKER_ENV,
    chain_head_held,
    database_admin,
    poll_final,
    wait_for,
    waiting_on_a_lock,
)

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/score-requests/?async=true"
WORKER = "paused"
SOCKET_TIMEOUT = float(WORKER_ENV["CELERY_BROKER_SOCKET_TIMEOUT"])


def _submit(api, seed: int) -> str:
    return api.post(URL, applicant_inputs(seed=seed)[0], format="json").json()["id"]


def test_a_worker_scores_again_after_redis_was_paused_under_a_finishing_task(api, active_version, fault_workers):
    worker = fault_workers.start(WORKER)
    assert poll_final(api, _submit(api, 81), 30)["status"] == "done"  # connections made and in use

    admin = database_admin()
    try:
        with chain_head_held():
            during = _submit(api, 82)
            wait_for(lambda: waiting_on_a_lock(admin, WORKER), 30, "the worker to be in the middle of the task")
            fault_workers.broker.pause()
        # The task finishes now, with Redis silent: its acknowledgement times out.
        wait_for(lambda: ScoreRequest.objects.get(pk=during).is_final, 30, "the task to finish during the pause")
        # Until the acknowledgement has failed: a socket timeout, or more with redis-py's health check and
        # retry (a fixed 3 timeouts was sometimes too short on a loaded machine, and Redis came back first).
        wait_for(
            lambda: "Couldn't ack" in fault_workers.log(WORKER).read_text(),
            60,
            "the acknowledgement to fail while Redis is paused",
        )
        time.sleep(SOCKET_TIMEOUT)  # and a little longer paused, with health checks going by
        assert worker.poll() is None
    finally:
        fault_workers.broker.resume()
        admin.close()

    after = _submit(api, 83)
    assert poll_final(api, after, 30)["status"] == "done"
    assert ScoreRequest.objects.filter(status="done").count() == 3 and audit_verify() == (3, [])
    assert worker.poll() is None  # the same worker, never restarted
    assert "Couldn't ack" in fault_workers.log(WORKER).read_text()  # the fault was met, and got over
