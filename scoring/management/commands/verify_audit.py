from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from scoring.services.audit_verification import audit_verify_report


class Command(BaseCommand):
    help = (
        "Re-compute the audit chain (one consistent snapshot) and compare it with the latest signed checkpoints; "
        "exit non-zero on any edit, deletion, reordering or rewrite."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify_report()
        for problem in report.problems:
            self.stderr.write(str(problem))
        if report.problems:
            raise CommandError(f"audit chain broken: {len(report.problems)} problems in {report.checked} records")
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} records verified"))
        if report.legacy:
            self.stdout.write(
                f"{report.legacy} of them are legacy links (plain sha256, chained before the audit "
                "key): they show edits, not a rewrite, except where a checkpoint covers them"
            )
        if report.checkpoints:
            latest = report.checkpoints[-1]
            self.stdout.write(
                f"checked against {len(report.checkpoints)} signed checkpoints; the latest, written "
                f"{latest.written_at}, saw record {latest.sequence} (the chain is at {report.head_sequence})"
            )
        else:
            self.stdout.write("no signed checkpoint found: the end of the chain is not pinned (README, Audit)")
