"""Handing work to the Celery workers: published inside the transaction that stores it.

A request is published before its transaction commits, so when the broker cannot take the message
(Redis down, paused or unreachable) the transaction rolls back and nothing is stored: the client
hears 503 and can send again, and no row waits for a message that was never sent. The broker
answers within the short connection and socket timeouts of the settings (see
``docs/reliability.md``), so a caller never waits for ever.

The other half of the bargain is in ``scoring/tasks.py``: a worker can receive the message a moment
before the transaction commits, and then retries briefly until the row appears; if the
transaction rolled back after the publish, the message is dropped with a warning. A row committed
whose message was lost later (a Redis restart) is dispatched again by the periodic sweep.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from kombu.exceptions import OperationalError


class QueueUnavailableError(RuntimeError):
    """The broker could not take the work; the caller's transaction is rolled back, nothing is kept."""

    retry_after_seconds = 5

    def __init__(self, cause: BaseException):
        super().__init__(
            f"the scoring queue is unavailable ({type(cause).__name__}: {cause}); nothing was stored, "
            f"try again in {self.retry_after_seconds} seconds"
        )


def task_publish(task: Task, args: tuple[Any, ...], *, queue: str | None = None) -> None:
    """Publish ``task`` now, with the settings' bounded retry policy; QueueUnavailableError if it fails."""
    try:
        task.apply_async(args, queue=queue)
    except OperationalError as exc:  # kombu raises this for every connection error of every transport
        raise QueueUnavailableError(exc) from exc
