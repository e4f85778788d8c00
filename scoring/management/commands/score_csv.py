from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.data import DataFormatError, load_applications
from scoring.services.files import NoActiveModelError, applications_score


class Command(BaseCommand):
    help = ("Score a file of applications (original PAKDD format or CSV with a header, optionally gzip) "
            "with the active model; writes ID_CLIENT,probability_bad,score,decision.")  # fmt: skip

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", help="Local path or s3://bucket/key")
        parser.add_argument("output", type=Path)
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Score the valid rows and list the invalid ones in OUTPUT.errors.csv",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            applications = load_applications(options["input"], strict=not options["skip_invalid"])
            scored = applications_score(applications=applications)
        except (DataFormatError, NoActiveModelError) as exc:
            raise CommandError(f"{options['input']}: {exc}") from exc
        output: Path = options["output"]
        scored.to_csv(output, index=False, float_format="%.6f")
        self.stdout.write(f"scored {len(scored)} applications into {output}")
        if applications.problem_count:
            errors = output.with_name(output.name + ".errors.csv")
            with errors.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["line", "column", "problem"])
                writer.writerows((p.line, p.column, p.problem) for p in applications.problems)
            self.stderr.write(f"{applications.problem_count} invalid rows skipped; listed in {errors}")
