"""Sending work to the Celery workers: the queue names, the routes, and the one publishing rule.

Services send work by task name through this module and never import a task module (the tasks
import the services), so there is no import cycle to hide. It imports no services.

**Queues.** Single scores go to ``scoring``, where a lender waits for each one; bulk work
(indexing, chunks, simulations, the weekly drift report, file purges) goes to the bulk queue
(``CREDITRISK_BATCH_QUEUE``, simulations ``CREDITRISK_SIMULATION_QUEUE``), so a big file never
delays one score. The names are settings (``creditrisk/settings/base.py``, whose
``CELERY_TASK_ROUTES`` routes what beat sends); this module reads them as it sends.

**The publishing rule.** Work is published while the transaction that stores its row is still
open, with the settings' bounded retries (``docs/reliability.md``):

- :func:`send` publishes at once. A broker that cannot take the message raises
  :class:`QueueUnavailableError`, the caller's transaction rolls back, and nothing is stored: the
  client hears 503 and can send again, and no row waits for a message that was never sent. A
  client's request (a score, a bulk upload) is sent this way.
- :func:`send_on_commit` publishes as the transaction commits. Work that a worker or the sweep
  creates for itself (a job's chunks, a simulation run, work sent again) is sent this way: there is
  no client to tell, and a message lost between the commit and the publish is sent again by the
  sweep (``scoring/services/sweep.py``), whose age and broker checks find such rows.

Either way a worker can receive a message a moment before its row is committed; every task waits
briefly for its row (``scoring/tasks.py``) and drops a message whose transaction rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from kombu.exceptions import OperationalError

SCORE_REQUEST = "scoring.tasks.score_request_process_task"
BATCH_JOB_INDEX = "scoring.tasks.batch_job_index_task"
BATCH_CHUNK = "scoring.tasks.batch_chunk_process_task"
SIMULATION_RUN = "simulations.tasks.simulation_run_task"


def scoring_queue() -> str:
    """The queue of single scores, where a lender waits for each one."""
    return str(settings.CELERY_TASK_DEFAULT_QUEUE)


def batch_queue() -> str:
    """The queue of bulk work, apart from single scores so a big file never delays a lender."""
    return str(settings.CREDITRISK_BATCH_QUEUE)


def simulation_queue() -> str:
    """The queue of simulation runs (thousands of rows a run: with the bulk work by default)."""
    return str(settings.CREDITRISK_SIMULATION_QUEUE)


# The queue of each task sent by name, read from the settings as it is sent (the same settings build
# CELERY_TASK_ROUTES once, at start-up, for beat's tasks and Celery's own sends; reading them here at
# each send lets a test point one kind of work at a queue no worker listens on).
_QUEUES: dict[str, Callable[[], str]] = {
    SCORE_REQUEST: scoring_queue,
    BATCH_JOB_INDEX: batch_queue,
    BATCH_CHUNK: batch_queue,
    SIMULATION_RUN: simulation_queue,
}


def queue_for(task_name: str) -> str:
    """The queue ``task_name`` (one of the names above) is sent to."""
    return _QUEUES[task_name]()


def consumed_queues() -> list[str]:
    """Every queue a worker that takes all kinds of work consumes (``celery worker -Q``), single scores first."""
    return list(dict.fromkeys([scoring_queue(), batch_queue(), simulation_queue()]))


class QueueUnavailableError(RuntimeError):
    """The broker could not take the work; the caller's transaction is rolled back, nothing is kept."""

    retry_after_seconds = 5

    def __init__(self, cause: BaseException):
        super().__init__(
            f"the scoring queue is unavailable ({type(cause).__name__}: {cause}); nothing was stored, "
            f"try again in {self.retry_after_seconds} seconds"
        )


def send(task_name: str, *args: Any) -> None:
    """Publish ``task_name(*args)`` now, within the caller's transaction; QueueUnavailableError if the
    broker cannot take it (the caller's transaction then rolls back)."""
    try:
        current_app.send_task(task_name, args, queue=queue_for(task_name))
    except OperationalError as exc:  # kombu raises this for every connection error of every transport
        raise QueueUnavailableError(exc) from exc


def send_on_commit(task_name: str, *args: Any) -> None:
    """Publish ``task_name(*args)`` once the caller's transaction commits (at once outside one)."""
    transaction.on_commit(partial(send, task_name, *args))


@dataclass(frozen=True)
class SweptWork:
    """Another app's queued work that the sweep (``scoring/services/sweep.py``) sends again when its
    message is lost: ``queued()`` gives the rows waiting for their message (a model with a
    ``dispatched_at`` field; rows without one are never swept), sent as ``task_name(str(pk))``."""

    name: str  # its count in the sweep's result
    task_name: str  # a task name above
    queued: Callable[[], QuerySet[Any]]


_SWEPT: dict[str, SweptWork] = {}


def swept_work_register(work: SweptWork) -> None:
    """Have the sweep cover ``work`` too (from an app's ``ready()``; a name registered again is replaced)."""
    _SWEPT[work.name] = work


def swept_work() -> list[SweptWork]:
    return list(_SWEPT.values())


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
            # Every transport's channel declares queues; celery-types types it as kombu's abstract StdChannel.
            channel = conn.default_channel
            return int(channel.queue_declare(queue=queue, passive=True).message_count)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - broker down, queue not declared, or a transport without counts
            return None

    try:
        yield size
    finally:
        try:
            conn.release()
        except Exception:  # noqa: BLE001 - closing a connection to a broker that went away
            pass


def queue_depths() -> dict[str, int | None]:
    """Messages waiting per queue (None where the broker cannot tell), on one broker connection."""
    with queue_size_reader() as size:
        return {queue: size(queue) for queue in consumed_queues()}
