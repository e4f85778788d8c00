"""A long queue is not a lost message: the sweep leaves a backlog to drain and re-sends only what is gone.

No worker runs here, so every request waits in the private Redis's queue, longer than the stale
age, as in an overloaded service. A few requests' messages are then taken out of Redis (as a
restart without persistence would lose them), and only those are dispatched again.
"""

from __future__ import annotations

import time
from datetime import timedelta
from uuid import UUID

import pytest
import redis
from django.utils import timezone

from scoring.broker_contents import broker_contents
from scoring.models import ScoreRequest
from scoring.services import sweep
from scoring.services.sweep import stale_work_sweep
from scoring.tests.factories import applicant_inputs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def private_sweep_lock(monkeypatch):
    """Other tests' workers sweep this database every few seconds under SWEEP_LOCK: this test sweeps
    under a lock of its own, so theirs never makes its sweep skip."""
    monkeypatch.setattr(sweep, "SWEEP_LOCK", sweep.SWEEP_LOCK + 1)


def _sweep_lock_free() -> str:
    """For a failure's message: whether another session holds the sweep's lock right now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s", [sweep.SWEEP_LOCK])
        return f"advisory locks on the sweep's key: {cursor.fetchone()[0]}"


def test_a_long_backlog_is_not_sent_again_and_a_lost_message_is(api, active_version, private_broker, settings):
    settings.CREDITRISK_STALE_SECONDS = 1
    queue = redis.Redis(port=private_broker.port, socket_timeout=2)
    submit = [
        api.post("/api/v1/score-requests/?async=true", inputs, format="json").json()["id"]
        for inputs in applicant_inputs(seed=41, n=43)
    ]
    lost, backlog = submit[:3], submit[3:]
    for _ in lost:  # the oldest messages are at the tail of the list
        queue.rpop("scoring")
    # Those three were dispatched long ago and lost; the backlog is older than the stale age too.
    ScoreRequest.objects.filter(pk__in=lost).update(dispatched_at=timezone.now() - timedelta(minutes=10))
    time.sleep(1.5)
    assert queue.llen("scoring") == 40

    before = timezone.now()
    swept = stale_work_sweep()
    assert swept["score_requests"] == 3, (swept, broker_contents(["scoring"]), _sweep_lock_free())
    dispatched_again = ScoreRequest.objects.filter(dispatched_at__gte=before).values_list("pk", flat=True)
    assert set(dispatched_again) == {UUID(pk) for pk in lost}
    assert queue.llen("scoring") == 43  # the three lost ones, once each; no duplicate of the backlog
    time.sleep(1.5)
    assert stale_work_sweep()["score_requests"] == 0  # all 43 now wait in the queue
    assert queue.llen("scoring") == 43
    assert ScoreRequest.objects.filter(pk__in=backlog, status="queued").count() == 40
