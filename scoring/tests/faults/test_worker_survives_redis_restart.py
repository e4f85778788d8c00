"""Redis killed and restarted while the worker holds a task, and while it is idle: the same worker
process goes on consuming.

kombu 5.7 closes the old channel after the restart and, in doing so, tries to put the messages it
held back into Redis through a transport it has already detached from its connection: the
worker died with ``AttributeError: 'NoneType' object has no attribute 'hostname'``
(creditrisk/broker.py explains the fix).
"""

from __future__ import annotations

import time

import pytest

from scoring.models import ScoreRequest
from scoring.services.audit_verification import audit_verify
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import chain_head_held, database_admin, poll_final, wait_for, waiting_on_a_lock

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/score-requests/?async=true"
WORKER = "restarted"


def _submit(api, seed: int) -> str:
    return api.post(URL, applicant_inputs(seed=seed)[0], format="json").json()["id"]


def _restart(broker) -> None:
    broker.kill()
    time.sleep(0.5)
    broker.start()


def test_the_same_worker_consumes_after_redis_restarts_under_a_task_and_while_idle(api, active_version, fault_workers):
    worker = fault_workers.start(WORKER, concurrency=2)
    assert poll_final(api, _submit(api, 91), 30)["status"] == "done"

    admin = database_admin()
    try:
        with chain_head_held():  # the worker holds the task at its final transaction
            during = _submit(api, 92)
            wait_for(lambda: waiting_on_a_lock(admin, WORKER), 30, "the worker to be in the middle of the task")
            _restart(fault_workers.broker)
            time.sleep(3)  # the worker meets the restart while it holds the task
        wait_for(lambda: ScoreRequest.objects.get(pk=during).is_final, 30, "the held task to finish")
    finally:
        admin.close()
    time.sleep(3)
    assert worker.poll() is None, fault_workers.log(WORKER).read_text()[-3000:]
    assert poll_final(api, _submit(api, 93), 30)["status"] == "done"

    _restart(fault_workers.broker)  # idle this time
    time.sleep(3)
    assert worker.poll() is None, fault_workers.log(WORKER).read_text()[-3000:]
    assert poll_final(api, _submit(api, 94), 30)["status"] == "done"
    assert worker.poll() is None  # the same process throughout
    assert "Unrecoverable error" not in fault_workers.log(WORKER).read_text()
    assert ScoreRequest.objects.filter(status="done").count() == 4 and audit_verify() == (4, [])
