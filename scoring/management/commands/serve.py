from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from functools import partial
from threading import Event
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from creditrisk.supervisor import Program, Supervisor
from scoring import queues
from scoring.selectors import worker_seen_since
from scoring.services.demo_user import DemoCredentials, demo_user_ensure

# Ctrl-C to no process left: a warm Celery shutdown gets this long, then what is left is killed.
STOP_GRACE_SECONDS = 7.0
# Once ready, this long before the sign-in lines: the worker logs "ready." just after it starts consuming
# (and beating), and the sign-in lines must come after every start-up line.
SETTLE_SECONDS = 1.0
# The web server and a consuming worker within this, or the sign-in lines are printed anyway, with why.
READY_TIMEOUT_SECONDS = 180.0


class Command(BaseCommand):
    help = (
        "make run's servers: Django's development server, a Celery worker and Celery beat, started together; "
        "prints where to sign in once the first page answers; Ctrl-C or SIGTERM stops all three."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes (default 2)")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        credentials = demo_user_ensure(credentials_file=settings.VAR_DIR / "demo-user.json")
        # The worker's own node name: the start is ready when this worker beats, not any other on the database.
        node = f"run-{os.getpid()}@{socket.gethostname()}"
        programs = _programs(host, port, options["concurrency"], node)
        supervisor = Supervisor(programs, grace=STOP_GRACE_SECONDS, cwd=settings.BASE_DIR)
        stopping = Event()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: stopping.set())  # once: a second Ctrl-C changes nothing
        started, deadline = timezone.now(), time.monotonic() + READY_TIMEOUT_SECONDS
        supervisor.start()
        try:
            ready = partial(_ready, _address(host), port, started, node)
            exited = supervisor.wait(stopping, until=lambda: ready() or time.monotonic() > deadline)
            if exited is None and not stopping.wait(SETTLE_SECONDS):
                self._sign_in(credentials, f"http://{_address(host)}:{port}/", ready())
                exited = supervisor.wait(stopping)
        finally:
            if stopping.is_set():
                self.stdout.write("stopping the web server, the worker and beat")
            supervisor.stop()
        if exited is not None:
            raise CommandError(f"the {exited.name} exited with code {exited.code}; the others were stopped")

    def _sign_in(self, credentials: DemoCredentials | None, url: str, ready: bool) -> None:
        """The closing lines of the start-up: where to go and who to sign in as."""
        problem = None if ready else f"no worker said it was consuming within {READY_TIMEOUT_SECONDS:.0f} s"
        status = _status(url)
        lines = [
            f"The web server, a Celery worker and beat are running; Ctrl-C stops all three. Open {url}",
            f"  (admin {url}admin/, API docs {url}api/docs/)",
        ]
        if problem or status != 200:
            lines.append(f"  not ready: {problem or f'the first page answered {status}'}")
        if credentials is None:
            lines.append("  Sign in with your own user (`python manage.py createsuperuser` adds one).")
        else:
            password = credentials.password or "changed since it was created (`python manage.py changepassword demo`)"
            lines += [
                f"  User:      {credentials.username}",
                f"  Password:  {password}",
                f"  API token: {credentials.token}",
            ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()


def _programs(host: str, port: int, concurrency: int, node: str) -> list[Program]:
    python = sys.executable
    celery, log = [python, "-m", "celery", "-A", "creditrisk"], ["--loglevel", "INFO"]
    return [
        # --noreload: one web process, not a watcher and a child that each load Django (3 s of a first start);
        # restart `make run` after changing the code.
        Program("web server", [python, "manage.py", "runserver", "--noreload", f"{host}:{port}"]),
        Program(
            "worker",
            [
                *celery,
                "worker",
                "-Q",
                ",".join(queues.consumed_queues()),
                "--concurrency",
                str(concurrency),
                "--hostname",
                node,
                *log,
            ],
        ),
        Program("beat", [*celery, "beat", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule"), *log]),
    ]


def _address(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _ready(host: str, port: int, since: datetime, node: str) -> bool:
    """The web server accepts connections (no request: nothing in its log) and our worker (``node``) has
    written its heartbeat since ``since`` (it is consuming): another worker on the same database, left
    running elsewhere, does not make this start ready."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    try:
        close_old_connections()
        return worker_seen_since(since=since, node=node)
    except DatabaseError:
        return False


def _status(url: str) -> int | None:
    """The first page's answer (the sign-in page, after the redirect)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None
