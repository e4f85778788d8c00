"""Prometheus metrics: requests counted by the web processes, tasks by the worker processes, decisions
read from the audit records.

Gunicorn runs several worker processes and a Celery worker forks a pool, so counters kept in one
process's memory would each show a fraction. With ``PROMETHEUS_MULTIPROC_DIR`` set (the Compose file
gives every container its own tmpfs there), prometheus_client keeps each process's counters in a
memory-mapped file in that folder and a scrape adds them up:
https://prometheus.github.io/client_python/multiprocess/

- ``GET /metrics`` on the web container: HTTP requests of every gunicorn process, and decisions.
- ``GET /metrics`` on ``CREDITRISK_WORKER_METRICS_PORT`` of each worker container: its tasks.
  Prometheus scrapes every worker (each replica is its own target) and ``sum()`` adds them up.

Decisions are not counted in a process at all: a final score request is never updated or deleted
(a PostgreSQL trigger refuses it), so counting them in the database at scrape time is a true,
monotonic counter that is exact across any number of processes and hosts and survives restarts.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery.signals import task_failure, task_retry, task_revoked, task_success, worker_init, worker_ready
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest, multiprocess, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("creditrisk.access")

HTTP_REQUESTS = Counter(
    "creditrisk_http_requests", "HTTP requests answered, by method, route and status", ["method", "route", "status"]
)
TASKS = Counter("creditrisk_celery_tasks", "Celery tasks run, by task name and outcome", ["task", "outcome"])

# Anything else is counted as "other", so a client inventing methods cannot grow the label set.
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# Polled every few seconds by Docker and Prometheus: counted, but not logged at INFO.
_QUIET_ROUTES = {"healthz", "metrics"}
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4


def multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def clear_multiprocess_dir() -> None:
    """Counters of an earlier run of this container would otherwise be added to the new ones."""
    folder = multiprocess_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)


def process_registry() -> CollectorRegistry:
    """The counters of every process sharing ``PROMETHEUS_MULTIPROC_DIR``; this process's when unset."""
    if multiprocess_dir() is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def exposition(*collectors: Any) -> bytes:
    """The Prometheus text format of :func:`process_registry` and ``collectors``."""
    registry = CollectorRegistry()
    for collector in (process_registry(), *collectors):
        registry.register(collector)
    return generate_latest(registry)


# -- Web: one count and one log line per request ----------------------------------------------


def route_of(request: Any) -> str:
    """The URL pattern that answered (``api/v1/score-requests/<str:request_id>/``), never the raw path."""
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


def request_metrics_middleware(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def middleware(request: Any) -> Any:
        started = time.perf_counter()
        response = get_response(request)
        route = route_of(request)
        method = request.method if request.method in _METHODS else "other"
        HTTP_REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
        log = access_logger.debug if route in _QUIET_ROUTES else access_logger.info
        log(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    return middleware


# -- Celery: one count per task outcome, served by each worker on its own port ------------------


def _count(outcome: str) -> Callable[..., None]:
    def receiver(sender: Any = None, **_: Any) -> None:
        TASKS.labels(task=getattr(sender, "name", str(sender)), outcome=outcome).inc()

    return receiver


# weak=False: the receivers are closures that nothing else holds on to.
task_success.connect(_count("succeeded"), weak=False)
task_failure.connect(_count("failed"), weak=False)
task_retry.connect(_count("retried"), weak=False)
task_revoked.connect(_count("revoked"), weak=False)


@worker_init.connect
def _fresh_counters(**_: Any) -> None:
    clear_multiprocess_dir()


@worker_ready.connect
def _serve_worker_metrics(**_: Any) -> None:
    from django.conf import settings

    port = settings.CREDITRISK_WORKER_METRICS_PORT
    if not port:
        return
    if multiprocess_dir() is None:
        logger.warning("PROMETHEUS_MULTIPROC_DIR is not set: pool processes' task counts will be missing")
    start_http_server(port, addr=settings.CREDITRISK_WORKER_METRICS_ADDR, registry=process_registry())
    logger.info("task metrics on http://%s:%s/metrics", settings.CREDITRISK_WORKER_METRICS_ADDR, port)
