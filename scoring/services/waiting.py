"""The web request that waits for the worker's decision: signalled by PostgreSQL, not polling it.

On PostgreSQL a trigger (migration ``0007_score_request_final_notify``) sends
``pg_notify(final_channel(id), status)`` when a score request becomes final, whatever finalises it
(the worker, the sweep giving up), and PostgreSQL delivers it when that transaction commits. The web
process runs ``LISTEN`` on the channel inside the transaction that creates the row
(``score_request_create(listen=True)``): LISTEN takes effect at that commit, and no worker can see the
row, let alone finalise it, before then, so the signal cannot go out before someone listens. The
request then sleeps in ``select()`` on the connection's socket and reads the row once when the signal
comes (https://www.psycopg.org/docs/advanced.html#asynchronous-notifications), then UNLISTENs.

A signal can still go missing (a transaction-pooling PgBouncer between web and database, a row
finalised with triggers off): the wait is cut into slices of CREDITRISK_SCORE_FALLBACK_SECONDS, and
after a slice without the signal the row is read anyway. At CREDITRISK_SCORE_WAIT_SECONDS the caller
gets what is there (the API answers 202). Where no signal can come at all the wait polls with a short
back-off instead: on SQLite (``make run`` on a bare machine), with CREDITRISK_SCORE_LISTEN off, and
inside an outer transaction (a test's, or ATOMIC_REQUESTS), where LISTEN would only act at its end.
"""

from __future__ import annotations

import contextlib
import selectors
import time
import uuid
from collections.abc import Collection
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection

from scoring.models import ScoreRequest
from scoring.selectors import score_requests_get_final
from scoring.services.commits import flush_committed_work_to_disk


def final_channel(score_request_id: Any) -> str:
    """The NOTIFY channel of one request; the trigger builds the same name from the row's id."""
    return f"score_request_{uuid.UUID(str(score_request_id)).hex}"


def final_signal_available() -> bool:
    """Whether a request created now, on this connection, can be signalled when it is final."""
    return connection.vendor == "postgresql" and settings.CREDITRISK_SCORE_LISTEN and not connection.in_atomic_block


def final_listen(*, score_request_id: Any) -> None:
    """LISTEN for the request's final signal; call it inside the transaction that creates the row."""
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {connection.ops.quote_name(final_channel(score_request_id))}")


def score_request_wait_final(*, score_request_id: Any, timeout: float) -> ScoreRequest | None:
    """The request once it is final, or None if it is not within ``timeout`` seconds."""
    return score_requests_wait_final(score_request_ids=[score_request_id], timeout=timeout).get(
        uuid.UUID(str(score_request_id))
    )


def score_requests_wait_final(*, score_request_ids: Collection[Any], timeout: float) -> dict[uuid.UUID, ScoreRequest]:
    """Those of the requests that are final within ``timeout`` seconds, by id, each on disk.

    Decisions commit without waiting for the disk (``score_request_finalize``): before the caller
    can pass one on, a flush covers it (``flush_committed_work_to_disk``)."""
    ids = {uuid.UUID(str(pk)) for pk in score_request_ids}
    deadline = time.monotonic() + timeout
    if not ids:
        return {}
    if not final_signal_available():
        finals = _poll(ids, deadline)
    else:
        try:
            finals = _wait_for_signals(ids, deadline)
        finally:
            final_unlisten(score_request_ids=ids)
    if finals:
        flush_committed_work_to_disk()
    return finals


def _wait_for_signals(ids: set[uuid.UUID], deadline: float) -> dict[uuid.UUID, ScoreRequest]:
    """Sleep on the socket until every request has signalled, reading the rows once then, or after each
    slice of CREDITRISK_SCORE_FALLBACK_SECONDS without every signal, or at the deadline."""
    connection.ensure_connection()
    raw = connection.connection  # psycopg2's connection: its socket, poll() and notifies
    channels = {final_channel(pk): pk for pk in ids}
    heard: set[uuid.UUID] = set()
    finals: dict[uuid.UUID, ScoreRequest] = {}
    slice_end = time.monotonic() + settings.CREDITRISK_SCORE_FALLBACK_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(raw, selectors.EVENT_READ)
        while True:
            heard |= _signalled(raw, channels)
            pending = ids - finals.keys()
            now = time.monotonic()
            if pending <= heard or now >= min(slice_end, deadline):
                finals.update(score_requests_get_final(score_request_ids=pending))
                if len(finals) == len(ids) or now >= deadline:
                    return finals
                heard.clear()  # what was heard has been read
                slice_end = now + settings.CREDITRISK_SCORE_FALLBACK_SECONDS
                continue
            selector.select(min(slice_end, deadline) - now)
            with connection.wrap_database_errors:  # a broken connection: Django's error, and Django drops it
                raw.poll()  # moves what the socket holds into raw.notifies


def _signalled(raw: Any, channels: dict[str, uuid.UUID]) -> set[uuid.UUID]:
    """Ids whose signal has arrived; any other notification is stale (an earlier wait's) and dropped."""
    heard = {channels[notify.channel] for notify in raw.notifies if notify.channel in channels}
    raw.notifies.clear()
    return heard


def final_unlisten(*, score_request_ids: Collection[Any]) -> None:
    """Stop listening for these requests' signals (the wait does it when it ends); one round trip.

    A persistent connection must not go on listening: its session would be sent every later signal
    for these channels, long after anyone waits for them.
    """
    if connection.vendor != "postgresql" or not score_request_ids:
        return
    channels = sorted(final_channel(pk) for pk in score_request_ids)
    statement = "; ".join(f"UNLISTEN {connection.ops.quote_name(channel)}" for channel in channels)
    # A broken connection listens to nothing any more, and Django drops it at the end of the request.
    with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
        cursor.execute(statement)


def _poll(ids: set[uuid.UUID], deadline: float) -> dict[uuid.UUID, ScoreRequest]:
    """Read until every request is final or the deadline passes, with a back-off from 2 to 50 ms."""
    finals: dict[uuid.UUID, ScoreRequest] = {}
    pause = 0.002
    while True:
        finals.update(score_requests_get_final(score_request_ids=ids - finals.keys()))
        remaining = deadline - time.monotonic()
        if len(finals) == len(ids) or remaining <= 0:
            return finals
        time.sleep(min(pause, remaining))
        pause = min(pause * 1.5, 0.05)
