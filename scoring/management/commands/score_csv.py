from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from api.exports import csv_rows
from ml.data import iter_bytes, load_applications
from ml.file_formats import DataFormatError
from ml.progress import progress_bar
from scoring.model_registry import NoActiveModelError
from scoring.models import BatchJob
from scoring.selectors import (
    ERROR_CSV_HEADER,
    RESULT_CSV_HEADER,
    batch_error_rows,
    batch_job_progress,
    batch_result_rows,
)
from scoring.services.batch_chunks import batch_job_run_inline
from scoring.services.batch_files import UploadTooLargeError
from scoring.services.batch_jobs import batch_job_create


class Command(BaseCommand):
    help = (
        "Score a file of applications (original PAKDD format or CSV with a header, optionally gzip) "
        "with the active model, through the same code as a bulk job of the API; writes "
        "ID_CLIENT,probability_bad,score,decision,reasons."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", help="Local path or s3://bucket/key")
        parser.add_argument("output", type=Path)
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Score the valid rows and list the invalid ones in OUTPUT.errors.csv (default: refuse the file)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source, output = options["input"], options["output"]
        try:
            if not options["skip_invalid"]:
                # Refuse a file with any bad row before scoring anything, with the loader's message.
                load_applications(source, strict=True)
            job = batch_job_create(
                content=iter_bytes(source),
                original_name=os.path.basename(str(source)),
                uploaded_by=None,
                channel=BatchJob.Channel.COMMAND,
                dispatch=False,
            )
            with progress_bar(None, "scoring", unit="row") as bar:
                job = batch_job_run_inline(job=job, progress=partial(self._progress, bar))
        except (DataFormatError, NoActiveModelError, UploadTooLargeError) as exc:
            raise CommandError(f"{source}: {exc}") from exc
        if job.status != BatchJob.Status.DONE:
            raise CommandError(f"{source}: {job.error or job.status}")
        if job.rows_failed and not options["skip_invalid"]:
            first = "; ".join(
                f"line {line}, column {column or '-'}: {problem}"
                for line, column, problem in list(batch_error_rows(job=job))[:5]
            )
            raise CommandError(
                f"{source}: {job.rows_failed} of {job.rows_total} rows have invalid values "
                f"({first}); nothing written. --skip-invalid scores the others."
            )
        if job.rows_done == 0:
            first = "".join(
                f"\n  line {line}, column {column or '-'}: {problem}"
                for line, column, problem in list(batch_error_rows(job=job))[:5]
            )
            raise CommandError(f"{source}: none of the {job.rows_total} rows is valid{first}")
        _write_csv(output, RESULT_CSV_HEADER, batch_result_rows(job=job))
        self.stdout.write(f"scored {job.rows_done} applications into {output} (batch job {job.pk})")
        if job.rows_failed:
            errors = output.with_name(output.name + ".errors.csv")
            _write_csv(errors, ERROR_CSV_HEADER, batch_error_rows(job=job))
            self.stderr.write(f"{job.rows_failed} invalid rows skipped; listed in {errors}")

    def _progress(self, bar: tqdm, job: BatchJob) -> None:
        """A bar with rows/s and the time left on a terminal; elsewhere one line when the job is done."""
        handled = batch_job_progress(job=job)["rows_handled"]
        bar.total = job.rows_total
        bar.update(handled - bar.n)
        if bar.disable and job.chunks_done == job.chunks_total:
            self.stderr.write(f"{handled:,} of {job.rows_total:,} rows (100 %)")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    # Byte for byte what the API's download sends; cells a spreadsheet would run are neutralised.
    _write_atomically(path, lambda handle: handle.writelines(csv_rows(header, rows)))


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
