"""The Celery app beside the settings; workers run ``celery -A creditrisk worker``."""

import os
import time
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_failure, task_retry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditrisk.settings.local")

# strict_typing off: Celery would otherwise bind every call's arguments to the task's signature with
# inspect on each publish (5% of a score request's CPU in the web process); the tasks take one id, and a
# wrong call fails in the worker anyway.
app = Celery("creditrisk", strict_typing=False)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# A worker process keeps its database connection from task to task (CELERY_DB_REUSE_MAX), but not past
# a task that failed, or that is retried after a database error: its session may have been killed under
# it, or a time limit may have struck mid-query, leaving a connection Django would take for usable
# (https://github.com/celery/celery/pull/9824). The next task then starts on a new one. A retry for a
# row not committed yet (scoring/tasks.py) is no reason to drop a good connection.
def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


@task_failure.connect
def _close_connections_after_a_failure(sender: Any = None, **_: Any) -> None:
    if not getattr(sender.request, "is_eager", False):
        _close_connections()


@task_retry.connect
def _close_connections_after_a_database_error(request: Any = None, reason: Any = None, **_: Any) -> None:
    from django.db import DatabaseError

    if isinstance(getattr(reason, "exc", None), DatabaseError) and not getattr(request, "is_eager", False):
        _close_connections()


# When each message was published, in its headers: the sweep compares a row waiting for its message
# with the oldest message still waiting in the queue, to tell a long queue from a lost message
# (scoring/broker_contents.py).
PUBLISHED_HEADER = "published"


@before_task_publish.connect
def _stamp_publish_time(headers: dict | None = None, **_: Any) -> None:
    if headers is not None:
        headers[PUBLISHED_HEADER] = time.time()


# Task counters and each worker's metrics port (signal receivers, connected on import).
import creditrisk.metrics  # noqa: E402,F401
