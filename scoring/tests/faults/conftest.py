"""Fault tests with real processes: a private Redis each test may kill, pause or restart, and workers on it.

The shared Redis on 6379 is never touched: each test starts its own ``redis-server`` (no
persistence, as a cache-only Redis would be run) on a free port, and points both the Celery app of
this process (the web side, in the test client) and the worker processes it starts at it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import kombu.pools
import psycopg2
import pytest
import redis
from django.db import connection
from rest_framework.test import APIClient

from conftest import _free_port
from creditrisk.celery import app as celery_app
from ml.registry import sha256_bytes
from scoring.models import AuditChainHead, ModelVersion, ScoreRequest
from scoring.tests.api.conftest import api, client_user, start_worker  # noqa: F401  (fixtures used here)
from scoring.tests.conftest import api_final, database_session, wait_for

# Short enough for tests that last seconds; the production defaults are in creditrisk/settings/base.py.
WORKER_ENV = {
    "CREDITRISK_MAX_ATTEMPTS": "3",
    "CELERY_BROKER_SOCKET_TIMEOUT": "2",
    "CELERY_BROKER_HEALTH_CHECK_SECONDS": "2",
}


def broker_state() -> str:
    """Messages waiting and unacknowledged in the broker this process publishes to (for failure messages)."""
    try:
        client = redis.Redis.from_url(celery_app.conf.broker_url, socket_timeout=2)
        return (
            f"broker: scoring {client.llen('scoring')}, batch {client.llen('batch')} waiting, "
            f"{client.hlen('unacked')} unacknowledged"
        )
    except redis.RedisError as exc:
        return f"broker: {exc}"


@dataclass
class PrivateRedis:
    """A ``redis-server`` of this test alone, without persistence: a restart loses every message."""

    folder: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        wait_for(lambda: self._answers(client), 10, f"redis-server on port {self.port}")

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, every queued and unacknowledged message is gone."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a paused server must be able to die
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, as with a half-open connection."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def queue_length(self, queue: str) -> int:
        return int(redis.Redis(port=self.port, socket_timeout=2).llen(queue))


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(folder=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _reset_broker_pools() -> None:
    """Forget this process's broker connections, so the next publish connects to the current URL.

    kombu keeps its pools in a process-wide registry keyed by connection: a pool closed but left in
    the registry would be handed out again, closed, when the URL comes back. ``reset`` closes and
    forgets them all.
    """
    celery_app._pool = None  # type: ignore[attr-defined]  # private, not in celery-types
    if "amqp" in celery_app.__dict__:
        celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]  # private, not in celery-types
    kombu.pools.reset()


@pytest.fixture
def private_broker(private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    """This process's Celery app (the web side) publishes to the private Redis; restored afterwards."""
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", private_redis.url)
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = private_redis.url  # type: ignore[misc]  # settable; celery-types says read-only
    _reset_broker_pools()
    # A write URL pinned elsewhere (by an earlier test) would send every publish past the private Redis.
    assert celery_app.conf.broker_write_url == private_redis.url, celery_app.conf.broker_write_url
    try:
        yield private_redis
    finally:
        celery_app.conf.broker_url = previous  # type: ignore[misc]  # as above
        _reset_broker_pools()


@dataclass
class FaultWorkers:
    """Celery workers on the private broker and the test database; every one stopped at the end."""

    broker: PrivateRedis
    model_dir: Path
    batch_dir: Path
    logs: Path
    started: list[subprocess.Popen] = field(default_factory=list)

    def start(
        self,
        name: str,
        *,
        queues: str = "scoring,batch",
        env: dict[str, str] | None = None,
        beat: bool = False,
        concurrency: int = 1,
    ) -> subprocess.Popen:
        database = connection.settings_dict["NAME"]
        # application_name tells this worker's PostgreSQL sessions apart in pg_stat_activity.
        extra_env = {
            **WORKER_ENV,
            "CELERY_BROKER_URL": self.broker.url,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}?application_name={name}",
            **(env or {}),
        }
        # LOG_LEVEL=DEBUG in the environment puts more in the worker logs when a fault test needs a look.
        args: list[str] = ["--concurrency", str(concurrency)] if concurrency != 1 else []
        if beat:  # the periodic sweep, as `celery beat` would run it
            args += ["--beat", "--schedule", str(self.logs / f"{name}-beat-schedule")]
        process = start_worker(
            database=database,
            queues=queues,
            model_dir=self.model_dir,
            batch_dir=self.batch_dir,
            name=name,
            extra_env=extra_env,
            extra_args=args,
            log=self.log(name),
        )
        self.started.append(process)
        return process

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker's whole process group (its pool processes too)."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def stop_all(self) -> None:
        """SIGKILL every worker's whole process group: the test is over, and a warm shutdown (seconds a
        worker) would only wait for what the test no longer looks at; the private broker goes with it."""
        for process in self.started:
            self.kill(process)


@pytest.fixture
def fault_workers(
    private_broker: PrivateRedis, trained: dict, batch_dir: Path, tmp_path: Path
) -> Iterator[FaultWorkers]:
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = FaultWorkers(broker=private_broker, model_dir=trained["folder"], batch_dir=batch_dir, logs=logs)
    try:
        yield workers
    finally:
        workers.stop_all()


def model_version_register(
    trained: dict, folder: Path, *, version: str = "v1", artifact: bytes | None = None, activate: bool = True
) -> ModelVersion:
    """What training leaves behind: the artifact and its compiled scorer in ``folder``, and the
    ModelVersion with their sha256.

    ``artifact`` replaces the session scorer's bytes (a model that cannot be loaded, say); the
    registered sha256 is always that of the bytes written, so the integrity check passes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    data = trained["scorer"].read_bytes() if artifact is None else artifact
    (folder / f"{version}.scorer.joblib").write_bytes(data)
    pipeline = trained["path"].read_bytes()
    (folder / f"{version}.joblib").write_bytes(pipeline)
    result = trained["result"]
    if activate:
        ModelVersion.objects.filter(is_active=True).update(is_active=False)
    return ModelVersion.objects.create(
        version=version,
        algorithm=result.algorithm,
        features=result.features,
        excluded_features=list(result.config.excluded),
        cv_metrics=result.cv_metrics,
        reference_applicant=result.reference_applicant,
        random_state=0,
        data_source="synthetic",
        data_sha256="0" * 64,
        artifact_path=f"{version}.joblib",
        artifact_sha256=sha256_bytes(pipeline),
        scorer_path=f"{version}.scorer.joblib",
        scorer_sha256=sha256_bytes(data),
        reference_probability=result.reference_probability,
        threshold=0.25,
        is_active=activate,
    )


def poll_final(client: APIClient, request_id: str, timeout: float) -> dict:
    """The request as the API shows it, once it is done or failed."""

    def explain() -> str:
        row = (
            ScoreRequest.objects.filter(pk=request_id).values("status", "attempts", "created_at", "started_at").first()
        )
        return f"row: {row}; {broker_state()}"

    return api_final(client, f"/api/v1/score-requests/{request_id}/", timeout, explain=explain)


def batch_final(client: APIClient, job_id: str, timeout: float) -> dict:
    return api_final(client, f"/api/v1/batches/{job_id}/", timeout, explain=broker_state)


def database_admin() -> psycopg2.extensions.connection:
    """A connection of the test's own, outside Django's, on the test database (autocommit)."""
    return database_session(autocommit=True)


@contextmanager
def chain_head_held() -> Iterator[None]:
    """The audit chain's head row locked by another session until the block ends.

    Every final write (a decision, a batch chunk) locks that row, so a worker that reaches its final
    transaction waits there: a fault can then be injected at that exact point of the task.
    """
    AuditChainHead.objects.get_or_create(id=1)
    holder = database_session()
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT 1 FROM scoring_auditchainhead WHERE id = 1 FOR UPDATE")
        yield
    finally:
        holder.rollback()
        holder.close()


def waiting_on_a_lock(admin: psycopg2.extensions.connection, worker: str) -> bool:
    """Whether a PostgreSQL session of ``worker`` (its application_name) waits on a lock."""
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'", [worker]
        )
        row = cursor.fetchone()
        assert row is not None  # count(*) answers one row
        return row[0] > 0
