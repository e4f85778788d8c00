"""A worker's heartbeat: a thread started when the worker is ready writes a row every few seconds.

Broker-agnostic (the filesystem transport of ``make run`` has no remote control), so ``/healthz``
can tell a live worker on any broker.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from threadpoolctl import threadpool_limits

from scoring.models import WorkerHeartbeat

logger = logging.getLogger(__name__)
_stop = threading.Event()


def heartbeat_beat(*, hostname: str, queues: str) -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"queues": queues, "last_seen": timezone.now()}
    )


def _beat_forever(hostname: str, queues: str) -> None:
    while not _stop.is_set():
        try:
            close_old_connections()
            heartbeat_beat(hostname=hostname, queues=queues)
        except DatabaseError:
            logger.warning("worker heartbeat could not be written", exc_info=True)
        _stop.wait(settings.CREDITRISK_HEARTBEAT_SECONDS)


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    hostname = getattr(sender, "hostname", "worker")
    queues = ",".join(sorted(q.name for q in sender.app.amqp.queues.consume_from.values())) if sender else ""
    threading.Thread(target=_beat_forever, args=(hostname, queues), daemon=True, name="heartbeat").start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _stop.set()


@worker_process_init.connect
def _one_thread_per_process(**_: Any) -> None:
    """Scoring one applicant gains nothing from OpenMP threads, and on a busy machine their
    start-up and spinning cost more than the prediction: each worker process uses one core, and
    concurrency comes from the number of processes."""
    threadpool_limits(limits=1)
