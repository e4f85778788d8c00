"""What the broker holds: how many messages wait in a queue. Read by the dashboard and by bulk work,
which gives way while single scores wait (scoring/services/batches.py); imports no services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from celery import current_app


@contextmanager
def queue_size_reader() -> Iterator[Callable[[str], int | None]]:
    """A function that tells how many messages wait in a queue, not yet handed to a worker, on one
    broker connection for the whole ``with`` block; None where the broker cannot tell (down, or the
    queue not declared yet). Never raises for a broker fault: callers only use the figure to decide."""
    try:
        conn = current_app.connection_for_read()
    except Exception:  # noqa: BLE001 - a broker URL that cannot even be parsed
        yield lambda queue: None
        return

    def size(queue: str) -> int | None:
        try:
            return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
        except Exception:  # noqa: BLE001 - broker down, queue not declared, or a transport without counts
            return None

    try:
        yield size
    finally:
        try:
            conn.release()
        except Exception:  # noqa: BLE001 - closing a connection to a broker that went away
            pass
