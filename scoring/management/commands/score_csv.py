from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.data import DataFormatError, load_applications
from scoring.exports import csv_rows
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
        output: Path = options["output"]
        try:
            applications = load_applications(options["input"], strict=not options["skip_invalid"])
            if applications.frame.empty:
                raise DataFormatError(f"none of the {applications.rows_read} rows is valid", applications.problems,
                                      applications.problem_count)  # fmt: skip
            scored = applications_score(applications=applications)
        except (DataFormatError, NoActiveModelError) as exc:
            raise CommandError(f"{options['input']}: {exc}") from exc
        _write_atomically(output, lambda handle: scored.to_csv(handle, index=False, float_format="%.6f"))
        self.stdout.write(f"scored {len(scored)} applications into {output}")
        if applications.problem_count:
            errors = output.with_name(output.name + ".errors.csv")
            rows = ((p.line, p.column, p.problem) for p in applications.problems)
            # The problems quote the file's values: a spreadsheet must not run one as a formula.
            _write_atomically(errors, lambda handle: handle.writelines(csv_rows(["line", "column", "problem"], rows)))
            self.stderr.write(f"{applications.problem_count} invalid rows skipped; listed in {errors}")


def _write_atomically(path: Path, write: Callable[[IO[str]], Any]) -> None:
    """``path`` appears complete or not at all: written beside it under a temporary name, then renamed."""
    try:
        with _temporary_beside(path) as (handle, temporary):
            write(handle)
            handle.close()
            os.replace(temporary, path)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc


@contextmanager
def _temporary_beside(path: Path) -> Iterator[tuple[IO[str], Path]]:
    # Not mkstemp: its files are private (0600); the output gets the usual permissions.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        with temporary.open("x", newline="") as handle:
            yield handle, temporary
    finally:
        temporary.unlink(missing_ok=True)
