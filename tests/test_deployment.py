"""The deployment: the Compose file against the Compose Specification, `check --deploy` with the
environment it gives, and its web and worker commands started here outside Docker (there is no Docker
engine on these machines) against the local PostgreSQL and a private Redis, scoring over HTTP."""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from conftest import _free_port
from tests.httpclient import get, metric_value, post_json

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
SCHEMA = json.loads((Path(__file__).parent / "data" / "compose-spec.json").read_text())
SETTINGS_SOURCES = [
    *sorted((REPO / "creditrisk" / "settings").glob("*.py")),
    REPO / "creditrisk" / "env.py",
    REPO / "creditrisk" / "gunicorn.py",
]
VENV_BIN = Path(sys.executable).parent
AUDIT_KEY = secrets.token_hex(32)  # the compose file and production settings refuse to start without one


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


# Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and ${VAR?error}, innermost first.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^${}]*))?\}")


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    def resolve(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        value = variables.get(name)
        missing = value is None or (value == "" and operator is not None and operator.startswith(":"))
        if operator in ("?", ":?") and missing:
            raise ValueError(f"{name}: {argument}")
        if operator in ("-", ":-") and missing:
            return argument
        return value or ""

    while (resolved := _VARIABLE.sub(resolve, text)) != text:
        text = resolved
    return text.replace("$$", "$")


def service_environment(service: str, variables: Mapping[str, str]) -> dict[str, str]:
    """The environment docker compose gives ``service``'s container, with ``variables`` as its .env."""
    environment = compose()["services"][service]["environment"]
    return {name: interpolate(str(value), variables) for name, value in environment.items()}


def dotenv_variables() -> set[str]:
    """Names in .env.example, set or commented out (``# NAME=``)."""
    text = (REPO / ".env.example").read_text()
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


# -- The Compose file ---------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification():
    errors = Draft7Validator(SCHEMA).iter_errors(compose())
    assert [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors] == []


@pytest.mark.parametrize("breakage", ["unknown_key", "bad_condition", "command_type"])
def test_the_schema_check_refuses_a_broken_compose_file(breakage):
    broken = copy.deepcopy(compose())
    web = broken["services"]["web"]
    if breakage == "unknown_key":
        web["restart_policy"] = "always"
    elif breakage == "bad_condition":
        web["depends_on"]["model"]["condition"] = "service_ready"
    else:
        web["command"] = {"run": "gunicorn"}
    assert list(Draft7Validator(SCHEMA).iter_errors(broken))


def test_the_stack_starts_in_order_and_restarts():
    services = compose()["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "migrate", "model"} <= set(services)
    for name in ("postgres", "redis", "worker"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert services[name]["restart"] == "unless-stopped", name
    conditions = {
        name: {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}
        for name in ("migrate", "model", "web", "worker", "beat")
    }
    assert conditions["migrate"] == {"postgres": "service_healthy", "redis": "service_healthy"}
    assert conditions["model"]["migrate"] == "service_completed_successfully"
    for name in ("web", "worker"):
        assert conditions[name]["model"] == "service_completed_successfully"
    assert conditions["beat"]["migrate"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["model"]["command"] == ["python", "manage.py", "train", "--if-none-active"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "creditrisk", "beat"]
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "models:/models" in services["web"]["volumes"] and "models:/models" in services["worker"]["volumes"]


def test_worker_consumes_both_queues_with_concurrency_from_the_environment():
    worker = compose()["services"]["worker"]
    command = worker["command"]
    assert command[command.index("-Q") + 1] == "scoring,batch"
    assert "--concurrency" not in command and "-c" not in command  # CELERY_WORKER_CONCURRENCY decides
    environment = service_environment(
        "worker",
        {"SECRET_KEY": "k", "CREDITRISK_AUDIT_KEY": AUDIT_KEY, "POSTGRES_PASSWORD": "p", "WORKER_CONCURRENCY": "6"},
    )
    assert environment["WORKER_CONCURRENCY"] == "6"


def gunicorn_config(env: Mapping[str, str]) -> dict[str, str]:
    """The settings gunicorn runs with, given the web command's config file and ``env``."""
    web = compose()["services"]["web"]["command"]
    path = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
    env = {
        "PATH": path,
        "HOME": os.environ.get("HOME", "/tmp"),
        "SECRET_KEY": "k",
        "CREDITRISK_AUDIT_KEY": AUDIT_KEY,
        **env,
    }
    command = [*web[:-1], "--print-config", web[-1]]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, flags=re.MULTILINE))


def test_gunicorn_holds_waiting_requests_in_threads_counted_from_the_environment():
    web = service_environment("web", {"SECRET_KEY": "k", "CREDITRISK_AUDIT_KEY": AUDIT_KEY, "POSTGRES_PASSWORD": "p"})
    config = gunicorn_config(web)
    assert (config["worker_class"], config["workers"], config["threads"]) == ("gthread", "2", "8")
    config = gunicorn_config({**web, "WEB_CONCURRENCY": "3", "WEB_THREADS": "4"})
    assert (config["worker_class"], config["workers"], config["threads"]) == ("gthread", "3", "4")
    config = gunicorn_config({**web, "WEB_WORKER_CLASS": "sync", "WEB_THREADS": "4"})  # one request a process
    assert (config["worker_class"], config["threads"]) == ("sync", "1")


def test_compose_refuses_to_start_without_the_secrets():
    with pytest.raises(ValueError, match="SECRET_KEY"):
        service_environment("web", {"POSTGRES_PASSWORD": "p"})
    environment = service_environment(
        "web", {"SECRET_KEY": "k", "CREDITRISK_AUDIT_KEY": AUDIT_KEY, "POSTGRES_PASSWORD": "p@ss"}
    )
    assert environment["DATABASE_URL"] == "postgres://creditrisk:p@ss@postgres:5432/creditrisk"


def test_env_example_lists_every_variable_the_settings_and_the_compose_file_read():
    read = set()
    for source in SETTINGS_SOURCES:
        read |= set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", source.read_text()))
    read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    for environment in (service.get("environment", {}) for service in compose()["services"].values()):
        read |= set(environment)
    read -= {"DJANGO_SETTINGS_MODULE", "POSTGRES_USER", "POSTGRES_DB"}  # fixed by the image and the stack
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CREDITRISK_SCORE_WAIT_SECONDS"} <= read
    assert sorted(read - dotenv_variables()) == []


# -- Production settings --------------------------------------------------------------------------


def manage(*args: str, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def production_value(expression: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return manage(
        "shell",
        "--no-imports",
        "-c",
        f"from django.conf import settings; print(repr(({expression})))",
        env={"DJANGO_SETTINGS_MODULE": "creditrisk.settings.production", **env},
    )


def test_check_deploy_is_clean_with_the_environment_the_compose_file_gives():
    variables = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CREDITRISK_AUDIT_KEY": AUDIT_KEY,
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
    }
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=service_environment("web", variables))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_fails_when_tls_protections_are_switched_off():
    variables = {"SECRET_KEY": secrets.token_urlsafe(50), "CREDITRISK_AUDIT_KEY": AUDIT_KEY, "POSTGRES_PASSWORD": "p"}
    env = {**service_environment("web", variables), "SECURE_SSL_REDIRECT": "false", "SECURE_HSTS_SECONDS": "0"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout and "security.W008" in result.stderr + result.stdout


def test_production_needs_a_secret_key_and_reads_it_from_a_file(tmp_path):
    refused = production_value("settings.SECRET_KEY", env={})
    assert refused.returncode != 0 and "the environment variable SECRET_KEY is required" in refused.stderr
    secret = tmp_path / "secret_key"
    secret.write_text("from-a-docker-secret\n")
    read = production_value(
        "settings.SECRET_KEY, settings.DEBUG", env={"SECRET_KEY_FILE": str(secret), "CREDITRISK_AUDIT_KEY": AUDIT_KEY}
    )
    assert read.stdout.strip() == "('from-a-docker-secret', False)", read.stderr


def test_production_needs_an_audit_key_of_32_characters_and_reads_it_from_a_file(tmp_path):
    refused = production_value("settings.CREDITRISK_AUDIT_KEY", env={"SECRET_KEY": "k"})
    assert refused.returncode != 0 and "the environment variable CREDITRISK_AUDIT_KEY is required" in refused.stderr
    short = production_value("settings.CREDITRISK_AUDIT_KEY", env={"SECRET_KEY": "k", "CREDITRISK_AUDIT_KEY": "short"})
    assert short.returncode != 0 and "CREDITRISK_AUDIT_KEY must be at least 32 characters" in short.stderr
    secret = tmp_path / "audit_key"
    secret.write_text("a" * 40 + "\n")
    read = production_value(
        "settings.CREDITRISK_AUDIT_KEY", env={"SECRET_KEY": "k", "CREDITRISK_AUDIT_KEY_FILE": str(secret)}
    )
    assert read.stdout.strip() == repr("a" * 40), read.stderr


def test_compose_refuses_to_start_without_an_audit_key():
    with pytest.raises(ValueError, match="CREDITRISK_AUDIT_KEY"):
        service_environment("worker", {"SECRET_KEY": "k", "POSTGRES_PASSWORD": "p"})


def test_production_hosts_and_origins_come_from_the_environment():
    result = production_value(
        "settings.ALLOWED_HOSTS, settings.CSRF_TRUSTED_ORIGINS, settings.SECURE_PROXY_SSL_HEADER",
        env={
            "SECRET_KEY": "k",
            "CREDITRISK_AUDIT_KEY": AUDIT_KEY,
            "ALLOWED_HOSTS": "credit.example.com,.bank.example",
            "CSRF_TRUSTED_ORIGINS": "https://credit.example.com",
        },
    )
    assert result.stdout.strip() == (
        "(['credit.example.com', '.bank.example'], ['https://credit.example.com'], ('HTTP_X_FORWARDED_PROTO', 'https'))"
    ), result.stderr


# -- The web and worker commands of the Compose file, run here --------------------------------------


@pytest.fixture
def private_redis(tmp_path) -> Iterator[str]:
    """A Redis of this test's own on a free port, so no other worker on the machine takes its tasks."""
    port = _free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        ping = ["redis-cli", "-p", str(port), "ping"]
        while subprocess.run(ping, capture_output=True, text=True).stdout.strip() != "PONG":
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("the private redis-server did not start within 20 s")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (gunicorn and Celery shut down gracefully), then SIGKILL the process group if need be."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:  # its own group only if started with start_new_session
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def start(command: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as output:
        return subprocess.Popen(
            command, cwd=REPO, env=dict(env), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_up(url: str, processes: list[subprocess.Popen], timeout: float = 120) -> int:
    """Poll ``url`` until it answers 200; return how many answers it took."""
    deadline, answers = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            pytest.fail("gunicorn or the Celery worker exited during start-up")
        try:
            status, _, _ = get(url)
            answers += 1
            if status == 200:
                return answers
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer 200 within {timeout} s")


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_compose_web_and_worker_commands_score_an_applicant_over_http(active_version, trained, private_redis, tmp_path):
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from scoring.tests.factories import UserFactory, applicant_inputs

    token = Token.objects.create(user=UserFactory.create(username="lender-compose")).key
    services = compose()["services"]
    web_port, metrics_port = _free_port(), _free_port()
    variables = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CREDITRISK_AUDIT_KEY": AUDIT_KEY,
        "POSTGRES_PASSWORD": "unused",
    }
    local = {  # the local services instead of the stack's postgres and redis containers
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": f"{private_redis}/0",
        "CACHE_URL": f"{private_redis}/1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CREDITRISK_MODEL_DIR": str(trained["folder"]),
        "CREDITRISK_HEARTBEAT_SECONDS": "1",
        "WEB_CONCURRENCY": "2",
        "WORKER_CONCURRENCY": "1",
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{web_port}",
        "CREDITRISK_WORKER_METRICS_PORT": str(metrics_port),
        "CREDITRISK_WORKER_METRICS_ADDR": "127.0.0.1",
    }
    processes, envs = [], {}
    try:
        for role in ("web", "worker"):
            (tmp_path / role).mkdir()
            envs[role] = {
                **service_environment(role, variables),
                **local,
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / role),
            }
            processes.append(start(services[role]["command"], envs[role], tmp_path / f"{role}.log"))
        base_url = f"http://127.0.0.1:{web_port}"
        # This worker is consuming once its metrics port answers (worker_ready); /healthz alone could be
        # satisfied by the heartbeat of another test's worker in the same database.
        wait_until_up(f"http://127.0.0.1:{metrics_port}/metrics", processes)
        health_polls = wait_until_up(f"{base_url}/healthz", processes)

        request_id = uuid.uuid4().hex
        status, headers, body = post_json(
            f"{base_url}/api/v1/score-requests/",
            applicant_inputs(seed=21)[0],
            headers={"Authorization": f"Token {token}", "X-Forwarded-Proto": "https", "X-Request-ID": request_id},
        )
        assert status == 201, body
        assert body["status"] == "done" and body["decision"] in ("approve", "decline") and 300 <= body["score"] <= 850
        assert headers["X-Request-ID"] == request_id
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        plain_status, plain_headers, _ = get(f"{base_url}/api/v1/models/")
        assert plain_status == 301 and plain_headers["Location"].startswith("https://")

        _, _, web_metrics = get(f"{base_url}/metrics")
        assert (
            metric_value(
                web_metrics,
                "creditrisk_http_requests_total",
                method="POST",
                route="api/v1/score-requests/",
                status="201",
            )
            == 1
        )
        # Both gunicorn processes answered some of these: the count is theirs added up.
        assert (
            sum(
                metric_value(web_metrics, "creditrisk_http_requests_total", method="GET", route="healthz", status=s)
                for s in ("200", "503")
            )
            == health_polls
        )
        assert metric_value(web_metrics, "creditrisk_decisions_total", decision=body["decision"], channel="api") == 1
        # The image's HEALTHCHECK command, against this gunicorn.
        healthcheck = subprocess.run(
            [sys.executable, "-m", "creditrisk.healthcheck"],
            cwd=REPO,
            timeout=30,
            env={**envs["web"], "CREDITRISK_HEALTHCHECK_URL": f"{base_url}/healthz"},
        )
        assert healthcheck.returncode == 0
        _, _, task_metrics = get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert (
            metric_value(
                task_metrics,
                "creditrisk_celery_tasks_total",
                task="scoring.tasks.score_request_process_task",
                outcome="succeeded",
            )
            == 1
        )
    finally:
        for process in processes:
            stop_group(process)
    web_log, worker_log = ((tmp_path / f"{role}.log").read_text() for role in ("web", "worker"))
    assert "concurrency: 1 (prefork)" in worker_log  # WORKER_CONCURRENCY, not a flag in the command
    assert any(
        f"request_id={request_id}" in line and "POST /api/v1/score-requests/ 201" in line
        for line in web_log.splitlines()
    ), web_log[-3000:]
    # The worker's lines for this applicant carry the same request id, and the task's id.
    task_lines = [line for line in worker_log.splitlines() if f"request_id={request_id}" in line]
    assert any(re.search(r"task_id=[0-9a-f-]{36} .*succeeded", line) for line in task_lines), worker_log[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_compose_beat_command_starts_and_keeps_its_schedule_where_it_may_write(private_redis, tmp_path):
    """The image runs as a non-root user that may write only under CREDITRISK_VAR_DIR (the `beat` volume)."""
    variables = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CREDITRISK_AUDIT_KEY": AUDIT_KEY,
        "POSTGRES_PASSWORD": "unused",
    }
    env = {
        **service_environment("beat", variables),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "CELERY_BROKER_URL": f"{private_redis}/0",
        "CREDITRISK_VAR_DIR": str(tmp_path / "var"),
    }
    (tmp_path / "var").mkdir()  # as the Dockerfile makes /app/var, owned by the image's user
    beat = start(compose()["services"]["beat"]["command"], env, tmp_path / "beat.log")
    try:
        deadline = time.monotonic() + 60
        while not list((tmp_path / "var").glob("celerybeat-schedule*")):
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()
            assert time.monotonic() < deadline, "beat wrote no schedule file within 60 s"
            time.sleep(0.2)
    finally:
        stop_group(beat)
    assert "beat: Starting..." in (tmp_path / "beat.log").read_text()
