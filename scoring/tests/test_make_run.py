"""`make run` as a newcomer uses it, on the test database with a model already active (so it starts
without training): its last lines say where to sign in, and Ctrl-C (SIGINT to the terminal's process
group) or SIGTERM to make stops the web server, the worker and beat within 10 seconds, with no error
and no process left behind (checked in the process table)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from conftest import _free_port
from tests.test_deployment import private_redis  # noqa: F401  (the fixture, used below)

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
STOP_SECONDS = 10
START_SECONDS = 240  # migrate, train (nothing to do), then four Django processes start on a busy machine
SIGN_IN_LINES = (
    "The web server, a Celery worker and beat are running",
    "  (admin ",
    "  User:      demo",
    "  Password:  ",
    "  API token: ",
)


class MakeRun:
    def __init__(self, process: subprocess.Popen[bytes], log: Path, port: int) -> None:
        self.process, self.log, self.port = process, log, port

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_sign_in(self) -> list[str]:
        """The output's lines once the sign-in lines are printed."""
        deadline = time.monotonic() + START_SECONDS
        while "  API token: " not in self.output():
            assert self.process.poll() is None, f"make run exited ({self.process.returncode}):\n{self.output()[-4000:]}"
            assert time.monotonic() < deadline, f"no sign-in lines within {START_SECONDS} s:\n{self.output()[-4000:]}"
            time.sleep(0.2)
        return self.output().splitlines()

    def processes(self) -> list[psutil.Process]:
        """make and every process below it."""
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]


@pytest.fixture
def make_run(active_version, trained, private_redis, tmp_path) -> Iterator[MakeRun]:  # noqa: F811
    from django.db import connection

    port = _free_port()
    # The environment of a developer's shell: make run's own settings (creditrisk.settings.local), not the tests'.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY")
    }
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        CELERY_BROKER_URL=f"{private_redis}/0",
        CACHE_URL=f"{private_redis}/1",
        CREDITRISK_MODEL_DIR=str(trained["folder"]),
        CREDITRISK_VAR_DIR=str(tmp_path / "var"),
        CREDITRISK_DATA_DIR=str(tmp_path),  # exists; nothing is trained, so nothing is read from it
    )
    log = tmp_path / "make-run.log"
    # -o: the virtual environment counts as installed (this one runs the tests); make is the leader of a
    # new process group, as in a terminal where Ctrl-C reaches make and what it started in that group.
    command = [
        "make",
        "--no-print-directory",
        "-o",
        f"{VENV}/.installed",
        "run",
        f"VENV={VENV}",
        f"PORT={port}",
        "WORKER_CONCURRENCY=1",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    run = MakeRun(process, log, port)
    try:
        yield run
    finally:
        if process.poll() is None:  # the test failed before stopping it: leave nothing running
            for leftover in run.processes():
                try:
                    os.killpg(leftover.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            process.wait(timeout=30)


def left_behind(processes: list[psutil.Process], groups: set[int]) -> list[str]:
    """Processes of ``processes`` still running, and any other process in one of their groups."""
    alive = {p.pid: p for p in processes if _running(p)}
    for candidate in psutil.process_iter():
        try:
            if os.getpgid(candidate.pid) in groups and _running(candidate):
                alive[candidate.pid] = candidate
        except (ProcessLookupError, psutil.Error):
            continue
    return [f"{pid} {' '.join(_cmdline(p))}" for pid, p in alive.items()]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return ["?"]


def stop_and_check(run: MakeRun, send) -> None:
    processes = run.processes()
    groups = {os.getpgid(p.pid) for p in processes}
    names = " ".join(" ".join(_cmdline(p)) for p in processes)
    assert "runserver" in names and " worker " in names and " beat " in names, names
    sent = time.monotonic()
    send(run.process.pid)
    try:
        run.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make run still running {STOP_SECONDS} s after the signal:\n{run.output()[-3000:]}")
    while left_behind(processes, groups) and time.monotonic() - sent < STOP_SECONDS:
        time.sleep(0.1)
    stopped_after = time.monotonic() - sent
    assert left_behind(processes, groups) == [], run.output()[-3000:]
    assert stopped_after < STOP_SECONDS
    output = run.output()
    # make's own error lines ("make: *** [Makefile:37: run] Segmentation fault", "... Interrupt") and tracebacks.
    for error in ("make: ***", "Segmentation fault", "Traceback", " ERROR ", "CommandError"):
        assert error not in output, output[-3000:]
    # Exit 0, or by the very signal make was sent (make re-raises a SIGINT it got, as every tool does).
    assert run.process.returncode in (0, -signal.SIGINT, -signal.SIGTERM), run.process.returncode
    assert output.count("Warm shutdown") <= 1  # one worker told once, not every process of the group


def sign_in_block(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.startswith(SIGN_IN_LINES[0]))
    return lines[start : start + len(SIGN_IN_LINES)]


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.django_db(transaction=True)
def test_ctrl_c_stops_web_worker_and_beat_leaving_nothing(make_run):
    lines = make_run.wait_for_sign_in()
    block = sign_in_block(lines)
    assert [line[: len(prefix)] for line, prefix in zip(block, SIGN_IN_LINES, strict=True)] == list(SIGN_IN_LINES)
    assert f"http://127.0.0.1:{make_run.port}/" in block[0]
    # The servers' own start-up lines all come before it: it closes the start-up.
    after = "\n".join(lines[lines.index(block[-1]) :])
    for startup in ("Quit the server with CONTROL-C", " ready.", "beat: Starting"):
        assert startup not in after and startup in make_run.output()
    with urllib.request.urlopen(f"http://127.0.0.1:{make_run.port}/", timeout=30) as page:  # the sign-in page
        assert page.status == 200 and b"Sign in" in page.read()
    stop_and_check(make_run, lambda pid: os.killpg(pid, signal.SIGINT))  # what the terminal does on Ctrl-C


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.django_db(transaction=True)
def test_sigterm_to_make_stops_web_worker_and_beat_leaving_nothing(make_run):
    make_run.wait_for_sign_in()
    stop_and_check(make_run, lambda pid: os.kill(pid, signal.SIGTERM))  # a service manager, `timeout`, kill
