"""Selectors read the database only."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scoring.models import WorkerHeartbeat
from scoring.selectors import worker_seen_since

pytestmark = pytest.mark.django_db


def test_a_start_is_ready_only_when_its_own_worker_beats():
    since = timezone.now() - timedelta(seconds=1)
    WorkerHeartbeat.objects.create(hostname="celery@elsewhere 1a2b3c4d", queues="scoring", last_seen=timezone.now())
    assert worker_seen_since(since=since)  # any worker
    assert not worker_seen_since(since=since, node="run-42@here")  # another worker on the database is not ours
    WorkerHeartbeat.objects.create(hostname="run-42@here 5e6f7a8b", queues="scoring", last_seen=timezone.now())
    assert worker_seen_since(since=since, node="run-42@here")
    assert not worker_seen_since(since=since, node="run-4@here")  # a prefix of another name is not a match
