from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from scoring.services.audit import audit_verify


class Command(BaseCommand):
    help = "Re-compute the audit chain of final score requests; exit non-zero on any edit, deletion or reordering."

    def handle(self, *args: Any, **options: Any) -> None:
        checked, problems = audit_verify()
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"audit chain broken: {len(problems)} problems in {checked} records")
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {checked} records verified"))
