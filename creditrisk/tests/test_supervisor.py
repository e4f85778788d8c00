"""The supervisor behind `make run`: one SIGTERM each, then SIGKILL for what is left in the groups."""

from __future__ import annotations

import os
import signal
import time
from threading import Event

import psutil
import pytest

from creditrisk.supervisor import Program, Supervisor

# A shell that ignores SIGTERM and has a child of its own: only the group's SIGKILL ends them.
STUBBORN = ["sh", "-c", "trap '' TERM; sleep 60 & wait"]


def _group_members(pgid: int) -> list[int]:
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


@pytest.mark.timeout(60)
def test_a_program_that_ignores_sigterm_is_killed_with_its_children_after_the_grace():
    supervisor = Supervisor([Program("stubborn", STUBBORN), Program("polite", ["sleep", "60"])], grace=1.0)
    supervisor.start()
    try:
        stubborn = supervisor.processes["stubborn"]
        deadline = time.monotonic() + 10
        while len(_group_members(stubborn.pid)) < 2:  # the shell and its sleep
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # Each program leads a group of its own: a Ctrl-C to ours never reaches them.
        assert {os.getpgid(p.pid) for p in supervisor.processes.values()} == {
            p.pid for p in supervisor.processes.values()
        }
        assert os.getpgid(stubborn.pid) != os.getpgid(0)
        started = time.monotonic()
        supervisor.stop()
        took = time.monotonic() - started
    finally:
        for process in supervisor.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert 1.0 <= took < 5
    assert supervisor.processes["polite"].returncode == -signal.SIGTERM  # stopped by the one SIGTERM
    assert supervisor.processes["stubborn"].returncode == -signal.SIGKILL
    assert _group_members(stubborn.pid) == []


@pytest.mark.timeout(60)
def test_a_program_that_exits_is_reported_and_the_wait_ends():
    supervisor = Supervisor([Program("short", ["sh", "-c", "exit 3"]), Program("long", ["sleep", "60"])], grace=2)
    supervisor.start()
    try:
        exited = supervisor.wait(Event())
    finally:
        supervisor.stop()
    assert exited is not None and (exited.name, exited.code) == ("short", 3)
    assert supervisor.processes["long"].returncode == -signal.SIGTERM


@pytest.mark.timeout(60)
def test_the_wait_ends_when_asked_to_stop_or_when_the_condition_holds():
    supervisor = Supervisor([Program("long", ["sleep", "60"])])
    supervisor.start()
    try:
        stopping = Event()
        stopping.set()
        assert supervisor.wait(stopping) is None
        assert supervisor.wait(Event(), until=lambda: True) is None
        assert supervisor.processes["long"].poll() is None
    finally:
        supervisor.stop()
    assert supervisor.processes["long"].returncode == -signal.SIGTERM
