"""``verify_audit`` on a live system: a real worker writes decisions and beat signs checkpoints meanwhile.

The audit must never report tampering on a healthy chain that grows while it is read (it reads one
snapshot), and must still name tampering afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from conftest import REPO
from scoring.models import AuditChainHead, ScoreRequest
from scoring.services.audit_verification import audit_verify, audit_verify_report
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _verify_command() -> subprocess.CompletedProcess[str]:
    """``manage.py verify_audit`` as an operator runs it, in a process of its own, on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "creditrisk.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "verify_audit"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def _write_decisions(api, stop: threading.Event, posted: list[str]) -> None:
    """About 10 requests a second, each decided and chained by the worker, until ``stop``."""
    try:
        for inputs in applicant_inputs(seed=31, n=2000):
            if stop.is_set():
                return
            posted.append(api.post("/api/v1/score-requests/?async=true", inputs, format="json").json()["id"])
            time.sleep(0.1)
    finally:
        connection.close()  # this thread's own connection


@pytest.mark.timeout(300)
def test_verify_audit_passes_while_decisions_are_written_and_still_names_tampering(
    api, active_version, fault_workers, audit_checkpoint_dir: Path
):
    fault_workers.start("audit-live", beat=True, env={"CREDITRISK_AUDIT_CHECKPOINT_SECONDS": "1"})
    stop, posted = threading.Event(), list[str]()
    writer = threading.Thread(target=_write_decisions, args=(api, stop, posted), daemon=True)
    writer.start()
    try:
        wait_for(lambda: ScoreRequest.objects.filter(status="done").count() >= 20, 60, "the first decisions")
        in_process, commands = [], []
        for _ in range(2):
            for _ in range(6):
                report = audit_verify_report()
                in_process.append((report.checked, report.problems, len(report.checkpoints)))
            commands.append(_verify_command())
        done_meanwhile = ScoreRequest.objects.filter(status="done").count()
    finally:
        stop.set()
        writer.join(timeout=30)

    assert [c.returncode for c in commands] == [0] * 2, [c.stderr for c in commands if c.returncode]
    assert [problems for _, problems, _ in in_process] == [[]] * 12
    checked = [n for n, _, _ in in_process]
    assert checked == sorted(checked) and checked[-1] > checked[0]  # the chain grew while it was verified
    assert all(signed > 0 for _, _, signed in in_process[6:])  # beat's checkpoints were compared too
    assert done_meanwhile > checked[0] and "audit chain intact" in commands[-1].stdout

    wait_for(
        lambda: ScoreRequest.objects.filter(id__in=posted, status="done").count() == len(posted),
        60,
        "every request to be decided",
    )
    head = AuditChainHead.objects.get(id=1)
    wait_for(
        lambda: any(p.name.startswith(f"{head.sequence:015d}-") for p in audit_checkpoint_dir.iterdir()),
        30,
        "beat to sign the final head",
    )
    assert audit_verify() == (len(posted), [])

    # Now tamper: cut the last two records and move the head back, as an insider with table rights would.
    kept = ScoreRequest.objects.get(sequence=head.sequence - 2)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # the immutability trigger bypassed
        cursor.execute("DELETE FROM scoring_scorerequest WHERE sequence > %s", [kept.sequence])
        cursor.execute(
            "UPDATE scoring_auditchainhead SET sequence = %s, record_hash = %s WHERE id = 1",
            [kept.sequence, kept.record_hash],
        )
    command = _verify_command()
    assert command.returncode != 0
    assert f"saw the chain at record {head.sequence}, but it now ends at record {kept.sequence}" in command.stderr
