"""Log records on stdout, one line per event, each with the request id and, in a worker, the task id.

The request id comes from django-guid (``X-Request-ID``: accepted from the caller or generated, echoed
in the response, and carried into the Celery tasks a request enqueues); the task id from Celery.
"""

from __future__ import annotations

import logging

from celery import current_task


class TaskContext(logging.Filter):
    """Adds ``task_id`` and ``task_name`` ("-" outside a task) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task
        request_id = getattr(getattr(task, "request", None), "id", None) if task else None
        record.task_id = request_id or "-"
        record.task_name = task.name if request_id else "-"
        return True


class OneLineFormatter(logging.Formatter):
    """A traceback or a multi-line message stays on its event's line, so log shippers keep it whole."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = "-"  # outside a request and a task
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")
