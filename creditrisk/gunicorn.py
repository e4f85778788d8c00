"""Gunicorn settings for the image: ``gunicorn --config python:creditrisk.gunicorn creditrisk.wsgi:application``.

Worker processes: ``WEB_CONCURRENCY`` (read by gunicorn itself); any other flag: ``GUNICORN_CMD_ARGS``
(e.g. ``--bind 127.0.0.1:8001``), which gunicorn reads after this file.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import multiprocess

from creditrisk.metrics import clear_multiprocess_dir, multiprocess_dir

bind = ["0.0.0.0:8000"]
# One log line per request comes from the app, with its request id (creditrisk.metrics); gunicorn's
# own messages go to the container's output.
accesslog = None
errorlog = "-"
# The heartbeat file of each gunicorn worker: in memory, since /tmp may be a slow overlay in Docker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Longer than CREDITRISK_SCORE_WAIT_SECONDS, the longest a request waits on purpose.
timeout = 30
graceful_timeout = 20
# Nothing here uses gunicornc; and two gunicorns of one user would share ~/.gunicorn/gunicorn.ctl.
control_socket_disable = True


def on_starting(server: Any) -> None:
    clear_multiprocess_dir()


def child_exit(server: Any, worker: Any) -> None:
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(worker.pid)
