"""The web side's wait for a decision: woken by PostgreSQL's NOTIFY, with a bounded fallback read.

Each test plays the worker from a second PostgreSQL session of its own, which finalises the row while
this session waits, with and without the trigger that signals it.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scoring.models import ScoreRequest
from scoring.services import score_requests
from scoring.services.commits import FLUSH
from scoring.services.score_requests import score_request_create
from scoring.services.sweep import stale_work_sweep
from scoring.services.waiting import final_channel, score_request_wait_final
from scoring.tests.conftest import database_session
from scoring.tests.factories import applicant_inputs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")  # CI runs on PostgreSQL


@pytest.fixture
def unpublished(active_version, monkeypatch: pytest.MonkeyPatch) -> None:
    """No worker takes these tests' requests: the test finalises them itself."""
    monkeypatch.setattr(score_requests.queues, "send", lambda *args, **options: None)


@pytest.fixture
def queued(unpublished) -> ScoreRequest:
    """A request stored as the API stores one it will wait for: listening for its signal."""
    return score_request_create(inputs=applicant_inputs(seed=41)[0], requested_by=None, channel="api", listen=True)


def _finalise(request_id: object, *, signal: bool, committed: list[str] | None = None) -> None:
    """What the worker's final write does to the row, from a session of its own, committing without
    waiting for the disk as the worker does; with ``signal`` off, triggers are off in that session
    (replication role), so no NOTIFY goes out. ``committed`` gets the log position of the write."""
    worker = database_session()
    try:
        with worker.cursor() as cursor:
            if not signal:
                cursor.execute("SET session_replication_role = replica")
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(
                "UPDATE scoring_scorerequest SET status = 'done', probability_bad = 0.1, score = 700, "
                "decision = 'approve', finished_at = now() WHERE id = %s",
                [str(request_id)],
            )
            if committed is not None:
                cursor.execute("SELECT pg_current_wal_insert_lsn()::text")  # the write is logged up to here
                (position,) = cursor.fetchone() or ("",)
                committed.append(position)
        worker.commit()
    finally:
        worker.close()


@contextmanager
def finalised_after(
    seconds: float, request_id: object, *, signal: bool = True, committed: list[str] | None = None
) -> Iterator[None]:
    timer = threading.Timer(seconds, _finalise, args=(request_id,), kwargs={"signal": signal, "committed": committed})
    timer.start()
    try:
        yield
    finally:
        timer.join(timeout=10)


def _statement_kinds(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"].split()[0] for query in queries.captured_queries]


def _listening_channels() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_listening_channels()")
        return [channel for (channel,) in cursor.fetchall()]


def test_the_waiting_request_is_answered_when_the_row_becomes_final_with_one_read(queued, settings):
    settings.CREDITRISK_SCORE_FALLBACK_SECONDS = 30  # no fallback read within this test: the signal wakes it
    started = time.monotonic()
    with finalised_after(0.5, queued.pk), CaptureQueriesContext(connection) as queries:
        final = score_request_wait_final(score_request_id=queued.pk, timeout=10)
    elapsed = time.monotonic() - started
    assert final is not None and final.status == "done" and final.decision == "approve"
    assert 0.5 <= elapsed < 3, elapsed
    # Half a second of waiting and no polling: one read of the row, UNLISTEN, and the flush that puts
    # the decision on disk before the caller passes it on.
    assert _statement_kinds(queries) == ["SELECT", "UNLISTEN", "SELECT"], queries.captured_queries
    assert queries.captured_queries[-1]["sql"] == FLUSH
    assert _listening_channels() == []  # the connection is left as it was found


def test_a_decision_committed_without_waiting_for_the_disk_is_on_disk_before_the_caller_gets_it(queued, settings):
    """The worker's commit does not wait for the disk (the chain's head is not held through a flush):
    the wait answers only after a flush that covers it."""
    settings.CREDITRISK_SCORE_FALLBACK_SECONDS = 30
    committed: list[str] = []
    with finalised_after(0.2, queued.pk, committed=committed):
        final = score_request_wait_final(score_request_id=queued.pk, timeout=10)
        with connection.cursor() as cursor:  # at once: PostgreSQL's WAL writer flushes within 0.2 s or so
            cursor.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [committed[0]])
            on_disk = cursor.fetchone()[0]
    assert final is not None and final.status == "done" and on_disk


def test_a_lost_signal_is_answered_by_the_fallback_read_well_before_the_deadline(queued, settings):
    settings.CREDITRISK_SCORE_FALLBACK_SECONDS = 0.5
    started = time.monotonic()
    with finalised_after(0.2, queued.pk, signal=False), CaptureQueriesContext(connection) as queries:
        final = score_request_wait_final(score_request_id=queued.pk, timeout=10)
    elapsed = time.monotonic() - started
    assert final is not None and final.status == "done"
    assert 0.5 <= elapsed < 2, elapsed  # one slice, not the 10 s wait
    assert _statement_kinds(queries) == ["SELECT", "UNLISTEN", "SELECT"]
    assert queries.captured_queries[-1]["sql"] == FLUSH


def test_without_a_decision_the_wait_reads_once_per_slice_and_ends_at_the_deadline(queued, settings):
    settings.CREDITRISK_SCORE_FALLBACK_SECONDS = 0.3
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        final = score_request_wait_final(score_request_id=queued.pk, timeout=1.0)
    elapsed = time.monotonic() - started
    assert final is None
    assert 1.0 <= elapsed < 2, elapsed
    # A read after each 0.3 s slice and one at the deadline; a poll every few ms would be hundreds.
    kinds = _statement_kinds(queries)
    assert kinds[-1] == "UNLISTEN" and set(kinds[:-1]) == {"SELECT"} and 3 <= len(kinds[:-1]) <= 5, kinds
    assert _listening_channels() == []


def test_inside_an_outer_transaction_nothing_listens_and_the_wait_polls(unpublished):
    inputs = applicant_inputs(seed=42)[0]
    with transaction.atomic():
        created = score_request_create(inputs=inputs, requested_by=None, channel="api", listen=True)
        assert _listening_channels() == []  # LISTEN would act only when this outer transaction ends
        with CaptureQueriesContext(connection) as queries:
            assert score_request_wait_final(score_request_id=created.pk, timeout=0.2) is None
    assert set(_statement_kinds(queries)) == {"SELECT"} and len(queries.captured_queries) > 5  # it polled


def test_the_sweep_giving_up_signals_the_request_too(unpublished, settings):
    created = score_request_create(inputs=applicant_inputs(seed=43)[0], requested_by=None, channel="api")
    settings.CREDITRISK_MAX_ATTEMPTS = 2
    stale = timezone.now() - timedelta(hours=1)
    ScoreRequest.objects.filter(pk=created.pk).update(attempts=2, status="running", dispatched_at=stale)
    listener = database_session(autocommit=True)
    try:
        with listener.cursor() as cursor:
            cursor.execute(f'LISTEN "{final_channel(created.pk)}"')
        assert stale_work_sweep()["score_requests_failed"] == 1
        deadline = time.monotonic() + 5
        while not listener.notifies and time.monotonic() < deadline:
            select.select([listener], [], [], 0.5)
            listener.poll()
        assert [(n.channel, n.payload) for n in listener.notifies] == [(final_channel(created.pk), "failed")]
    finally:
        listener.close()
