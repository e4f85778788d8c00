"""A real Celery worker process on the Redis broker, scoring against the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from conftest import stop_process
from creditrisk.celery import app as celery_app
from scoring.tests.conftest import broker_redis
from scoring.tests.factories import UserFactory

REPO = Path(__file__).resolve().parents[3]


def start_worker(
    *,
    database: str,
    queues: str,
    model_dir: Path,
    batch_dir: Path,
    name: str,
    extra_env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen:
    """``celery worker`` as the Compose file runs it, on the test database; waits until it answers.

    The worker logs through Django's logging on stdout (``--logfile`` has no effect): ``log`` collects
    its stdout and stderr in a file, for tests that read what the worker said.
    """
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "creditrisk.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "CREDITRISK_MODEL_DIR": str(model_dir),
        "CREDITRISK_HEARTBEAT_SECONDS": "1",
        "CREDITRISK_BATCH_DIR": str(batch_dir),
        **(extra_env or {}),
    }
    hostname = f"{name}-{os.getpid()}@%h"
    output = log.open("ab") if log else None
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "creditrisk",
            "worker",
            "-Q",
            queues,
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
            "--hostname",
            hostname,
            *(extra_args or []),
        ],
        cwd=REPO,
        env=env,
        start_new_session=True,  # its own process group, so a test can kill it whole
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
    )
    if output:
        output.close()  # the worker holds its own copy
    deadline = time.monotonic() + 60
    destination = [hostname.replace("%h", socket.gethostname())]
    while not celery_app.control.ping(destination=destination, timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            pytest.fail(f"the Celery worker {name} did not start within 60 s")
    return process


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, trained, batch_dir) -> Iterator[subprocess.Popen]:
    """A worker on the scoring and batch queues for the whole session, always stopped at the end.

    It does not sweep (CREDITRISK_SWEEP_SECONDS=0). It lives on through the later tests, whose own
    workers read private brokers: its sweep would see their rows' messages missing from its broker
    and dispatch them again to itself, taking work those tests wait for (seen in CI, where the
    sweep tests found their "lost" requests already sent again and scored by this worker).
    """
    with django_db_blocker.unblock():
        database = connection.settings_dict["NAME"]
    broker_redis(celery_app.connection_for_write()).flushdb()  # no stale messages of older runs
    process = start_worker(
        database=database,
        queues="scoring,batch",
        model_dir=trained["folder"],
        batch_dir=batch_dir,
        name="test",
        extra_env={"CREDITRISK_SWEEP_SECONDS": "0"},
    )
    try:
        yield process
    finally:
        stop_process(process)


@pytest.fixture
def client_user(db):
    return UserFactory.create(username="lender-a")


@pytest.fixture
def api(client_user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=client_user).key}")
    return client


@pytest.fixture
def other_api(db) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=UserFactory.create(username='lender-b')).key}"
    )
    return client


@pytest.fixture
def staff_api(db) -> APIClient:
    staff = UserFactory.create(username="backoffice", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    return client
