"""Gunicorn settings for the image: ``gunicorn --config python:creditrisk.gunicorn creditrisk.wsgi:application``.

Processes ``WEB_CONCURRENCY``, threads in each ``WEB_THREADS``, worker class ``WEB_WORKER_CLASS``; any
other flag: ``GUNICORN_CMD_ARGS`` (e.g. ``--bind 127.0.0.1:8001``), which gunicorn reads after this file.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import multiprocess

from creditrisk import env
from creditrisk.metrics import clear_multiprocess_dir, multiprocess_dir

bind = ["0.0.0.0:8000"]
# A scoring request spends most of its time asleep, waiting for the worker's signal on its database
# connection (scoring/services/waiting.py). A sync worker is held by one such request, so a few waiting
# requests left new ones in the listen backlog; gthread keeps accepting while threads wait. Processes
# for the CPU (two cores here), threads for the waiting: the default 2 x 8 holds 16 requests in flight.
# Django gives every thread its own database connection, so a web container holds up to
# WEB_CONCURRENCY x WEB_THREADS PostgreSQL sessions (DATABASE_CONN_MAX_AGE keeps them open).
# https://docs.gunicorn.org/en/stable/design.html#how-many-threads
worker_class = env.choice("WEB_WORKER_CLASS", ["gthread", "sync"], "gthread")
workers = env.integer("WEB_CONCURRENCY", 2)
# gunicorn would quietly turn "sync" with threads into gthread: sync means one request per process.
threads = env.integer("WEB_THREADS", 8) if worker_class == "gthread" else 1
# gthread keeps idle connections open (sync closed each after its answer). Longer than the idle timeout
# of the proxy in front (60 s for nginx and most load balancers), so the proxy closes an idle connection
# first and never sends a request down one gunicorn has just closed.
keepalive = 75
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


def post_worker_init(worker: Any) -> None:
    # The application is loaded: out of the garbage collector's way (creditrisk/gc.py).
    from creditrisk.gc import freeze_loaded_objects

    freeze_loaded_objects()


def child_exit(server: Any, worker: Any) -> None:
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(worker.pid)
