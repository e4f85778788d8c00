"""Processes started together and stopped together: ``make run``'s web server, Celery worker and beat.

Each process is started in a process group of its own, so Ctrl-C in the terminal (SIGINT to the
terminal's foreground group) reaches only the supervisor, never the servers directly: they would
each shut down their own way, a Celery worker's pool processes too, and a second Ctrl-C would cut
them short. The supervisor instead sends one SIGTERM to each process (Django's runserver exits at
once, Celery's worker and beat shut down warmly: tasks running are finished or, acknowledged late,
re-queued), waits up to ``grace`` seconds, then SIGKILLs whatever is left in their groups.

Plain Python (no Django), so it can supervise any command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import Event

POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Program:
    name: str
    command: Sequence[str]


@dataclass(frozen=True)
class Exit:
    name: str
    code: int


class Supervisor:
    def __init__(
        self,
        programs: Sequence[Program],
        *,
        grace: float = 7.0,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.programs = list(programs)
        self.grace = grace
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        """Start every program, each the leader of a new process group; output goes where ours goes."""
        for program in self.programs:
            self.processes[program.name] = subprocess.Popen(
                list(program.command), cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def exited(self) -> Exit | None:
        """The first program found to have exited, if any."""
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                return Exit(name, code)
        return None

    def wait(self, stopping: Event, until: Callable[[], bool] = lambda: False) -> Exit | None:
        """Until ``stopping`` is set, ``until()`` is true or a program exits (then that exit)."""
        while not stopping.wait(POLL_SECONDS):
            exit_ = self.exited()
            if exit_ is not None:
                return exit_
            if until():
                return None
        return None

    def stop(self) -> None:
        """One SIGTERM to each program still running, then, after ``grace`` seconds, SIGKILL to every
        process left in their groups; returns when none is left."""
        for process in self.processes.values():
            if process.poll() is None:
                _signal(process.pid, signal.SIGTERM, group=False)
        deadline = time.monotonic() + self.grace
        while any(_group_alive(process) for process in self.processes.values()) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS / 2)
        for process in self.processes.values():
            if _group_alive(process):
                _signal(process.pid, signal.SIGKILL, group=True)
            process.wait()
        # A killed group's other members (a worker's pool processes) are reaped by init, briefly.
        deadline = time.monotonic() + 2
        while any(_group_alive(process) for process in self.processes.values()) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS / 4)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    """The program or any process of its group (its children, unless they left it) still exists."""
    if process.poll() is None:
        return True
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of the group we may not signal: it exists
        return True
    return True


def _signal(pid: int, signum: signal.Signals, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass
