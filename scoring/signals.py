"""A worker's heartbeat: a thread started when the worker is ready writes a row every few seconds.

Broker-agnostic (the filesystem transport of ``make run`` has no remote control), so ``/healthz``
can tell a live worker on any broker, and the sweep can tell a dead worker's work. The same thread
runs the sweep every CREDITRISK_SWEEP_SECONDS (one worker at a time: scoring/services/sweep.py), so
stalled work moves as long as any worker lives, with or without beat.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from threadpoolctl import threadpool_limits

from creditrisk.gc import freeze_loaded_objects
from scoring.models import WorkerHeartbeat
from scoring.services.sweep import stale_work_sweep

logger = logging.getLogger(__name__)
_stop = threading.Event()
_this_worker: dict[str, str] = {}


@worker_init.connect
def _name_this_worker(sender: Any = None, **_: Any) -> None:
    """Named in the main process before its pool processes are forked, so they inherit the name."""
    _this_worker["name"] = f"{getattr(sender, 'hostname', 'worker')} {uuid.uuid4().hex[:8]}"


def worker_name() -> str:
    """This worker's name in its heartbeats and in the work it claims; empty outside a worker.

    The Celery hostname and an id of this start: a worker restarted under the same hostname (a
    container's) is a new worker, and what the old one held is released, not taken for held.
    """
    return _this_worker.get("name", "")


def heartbeat_beat(*, hostname: str, queues: str) -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"queues": queues, "last_seen": timezone.now()}
    )


def _beat_forever(hostname: str, queues: str) -> None:
    next_sweep = time.monotonic() + settings.CREDITRISK_SWEEP_SECONDS
    while not _stop.is_set():
        try:
            close_old_connections()
            heartbeat_beat(hostname=hostname, queues=queues)
        except DatabaseError:
            logger.warning("worker heartbeat could not be written", exc_info=True)
        if settings.CREDITRISK_SWEEP_SECONDS > 0 and time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + settings.CREDITRISK_SWEEP_SECONDS
            _sweep()
        _stop.wait(min(settings.CREDITRISK_HEARTBEAT_SECONDS, max(settings.CREDITRISK_SWEEP_SECONDS, 1)))


def _sweep() -> None:
    try:
        swept = stale_work_sweep()
    except Exception:  # a broker or database fault: the next round tries again
        logger.warning("sweep failed", exc_info=True)
        return
    if any(swept.values()):
        logger.warning("sweep: dispatched again or failed stalled work: %s", swept)


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    hostname = worker_name() or getattr(sender, "hostname", "worker")
    queues = ",".join(sorted(q.name for q in sender.app.amqp.queues.consume_from.values())) if sender else ""
    threading.Thread(target=_beat_forever, args=(hostname, queues), daemon=True, name="heartbeat").start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _stop.set()


@worker_process_init.connect
def _one_thread_per_process(**_: Any) -> None:
    """Scoring one applicant gains nothing from OpenMP threads, and on a busy machine their
    start-up and spinning cost more than the prediction: each worker process uses one core, and
    concurrency comes from the number of processes. What the process has loaded is then kept out of
    the garbage collector's way (creditrisk/gc.py)."""
    threadpool_limits(limits=1)
    freeze_loaded_objects()
