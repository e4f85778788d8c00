"""Simulation runs in the scoring app's sweep: a run whose message was lost is sent again, once; a
run whose message waits in a long queue is left to it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from creditrisk.celery import app as celery_app
from ml.simulation import Economics
from scoring import queues
from scoring.services import sweep
from scoring.services.sweep import stale_work_sweep
from scoring.tests.conftest import broker_redis
from simulations.models import SimulationRun
from simulations.services import simulation_run_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_broker_and_own_lock(monkeypatch):
    """No message of an earlier test in the queues, and a sweep lock no session worker holds."""
    with celery_app.connection_for_write() as connection:
        broker_redis(connection).flushdb()
    monkeypatch.setattr(sweep, "SWEEP_LOCK", sweep.SWEEP_LOCK + 2)


def test_a_run_whose_message_was_lost_is_sent_again_once(
    model_version, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CREDITRISK_STALE_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=False):  # committed, its message never published
        run = simulation_run_create(requested_by=None, economics=Economics(), model_version=model_version)
    assert run.dispatched_at is not None
    assert stale_work_sweep()["simulation_runs"] == 0  # not stale yet
    SimulationRun.objects.filter(pk=run.pk).update(dispatched_at=timezone.now() - timedelta(minutes=5))
    sent: list[tuple[str, tuple[object, ...]]] = []
    monkeypatch.setattr(queues, "send", lambda name, *args: sent.append((name, args)))
    assert stale_work_sweep()["simulation_runs"] == 1
    assert sent == [(queues.SIMULATION_RUN, (str(run.pk),))]
    run.refresh_from_db()
    assert timezone.now() - run.dispatched_at < timedelta(seconds=10)
    assert stale_work_sweep()["simulation_runs"] == 0  # sent once, not on every sweep
    assert len(sent) == 1


def test_a_run_waiting_in_a_long_queue_is_not_sent_again(model_version, settings, django_capture_on_commit_callbacks):
    settings.CREDITRISK_STALE_SECONDS = 1
    settings.CREDITRISK_SIMULATION_QUEUE = "no-worker-listens"  # not the queue a session worker of other tests takes
    with django_capture_on_commit_callbacks(execute=True):  # published to the real broker, no worker takes it
        run = simulation_run_create(requested_by=None, economics=Economics(), model_version=model_version)
    with celery_app.connection_for_write() as connection:
        assert broker_redis(connection).llen(queues.simulation_queue()) == 1
    time.sleep(1.5)  # older than the stale age, and still waiting behind nothing but itself
    assert stale_work_sweep()["simulation_runs"] == 0
    with celery_app.connection_for_write() as connection:
        assert broker_redis(connection).llen(queues.simulation_queue()) == 1  # no duplicate
    assert SimulationRun.objects.get(pk=run.pk).status == SimulationRun.Status.QUEUED


def test_a_run_the_caller_runs_itself_is_never_swept(model_version, settings):
    settings.CREDITRISK_STALE_SECONDS = 1
    run = simulation_run_create(requested_by=None, economics=Economics(), model_version=model_version, dispatch=False)
    assert run.dispatched_at is None
    SimulationRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert stale_work_sweep()["simulation_runs"] == 0
