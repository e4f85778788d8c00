"""Bounds of bulk jobs through the services: decompressed bytes, rows, blank lines, files removed when a job ends."""

from __future__ import annotations

import gzip
import os
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from creditrisk.celery import app as celery_app
from ml.file_formats import DataFormatError
from scoring.models import BatchJob, BatchResult, BatchRowError
from scoring.services.batch_chunks import batch_chunk_process, batch_job_run_inline
from scoring.services.batch_files import batch_files_purge, job_folder
from scoring.services.batch_jobs import batch_job_cancel, batch_job_index
from scoring.tests.test_services_batches import _create

pytestmark = pytest.mark.django_db


def _files(job: BatchJob) -> set[str]:
    folder = job_folder(job)
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


def test_blank_lines_are_neither_rows_nor_errors(active_version, trained):
    rows = trained["text"].encode("latin-1").split(b"\r\n")
    data = b"\r\n".join(rows[:300]) + b"\r\n\r\n   \r\n" * 1000 + b"\r\n".join(rows[300:]) + b"\n" * 2_000_000
    job = batch_job_run_inline(job=_create(gzip.compress(data), "blanks.txt.gz"))
    assert (job.status, job.rows_total, job.rows_done, job.rows_failed) == ("done", 600, 600, 0)
    assert not BatchRowError.objects.filter(job=job).exists()
    assert max(c.byte_end - c.byte_start for c in job.chunks.all()) < 100_000  # the 2 MB tail is read by none


def test_a_gzip_over_the_decompressed_limit_fails_the_job_with_the_reason(
    active_version, trained, settings, django_capture_on_commit_callbacks
):
    settings.CREDITRISK_MAX_DECOMPRESSED_BYTES = 1_000_000
    data = trained["text"].encode("latin-1") + b"\n" * 50_000_000  # 50 MB of blank lines in about 50 kB
    packed = gzip.compress(data)
    assert len(packed) < 100_000
    job = _create(packed, "bomb.txt.gz")
    started = time.perf_counter()
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_job_index(job_id=job.pk, dispatch=False)
    assert time.perf_counter() - started < 5  # stopped at the limit, not after 50 MB
    assert job.status == "failed"
    assert (
        job.error
        == "the file is larger than the limit of 1,000,000 bytes once decompressed (1 MiB); split it into smaller files"
    )
    assert _files(job) == {"upload"}  # the decompressed copy is gone at once
    assert not job.chunks.exists() and not BatchResult.objects.filter(job=job).exists()


def test_a_file_over_the_row_limit_fails_the_job_with_the_reason(active_version, trained, settings):
    settings.CREDITRISK_MAX_JOB_ROWS = 599
    job = batch_job_run_inline(job=_create(trained["text"].encode("latin-1")))
    assert job.status == "failed"
    assert job.error == "the file has more than 599 applications, the limit of one job; split it into smaller files"
    settings.CREDITRISK_MAX_JOB_ROWS = 600
    assert batch_job_run_inline(job=_create(trained["text"].encode("latin-1"))).status == "done"


def test_cancel_removes_the_decompressed_copy_at_once_and_a_chunk_without_it_is_skipped(active_version, trained):
    job = batch_job_index(
        job_id=_create(gzip.compress(trained["text"].encode("latin-1")), "a.txt.gz").pk, dispatch=False
    )
    assert _files(job) == {"upload", "plain.txt"}
    first, second, *rest = job.chunks.order_by("index")
    batch_chunk_process(chunk_id=first.pk)
    batch_job_cancel(job=job)
    assert _files(job) == {"upload"}
    for chunk in (second, *rest):
        batch_chunk_process(chunk_id=chunk.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_done) == ("cancelled", 100)
    assert list(job.chunks.order_by("index").values_list("status", flat=True)) == ["done"] + ["cancelled"] * 5


def test_a_finished_job_keeps_its_upload_but_not_its_decompressed_copy(
    active_version, trained, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_job_run_inline(job=_create(gzip.compress(trained["text"].encode("latin-1")), "a.txt.gz"))
    assert job.status == "done" and _files(job) == {"upload"}


def test_the_purge_removes_the_files_of_jobs_ended_before_the_retention(active_version, trained, settings, batch_dir):
    settings.CREDITRISK_BATCH_FILE_RETENTION_HOURS = 24
    text = trained["text"].encode("latin-1")
    old_done, recent_done, old_cancelled = (batch_job_run_inline(job=_create(text)) for _ in range(3))
    batch_job_cancel(job=old_cancelled)  # already done: stays done
    running = batch_job_index(job_id=_create(text).pk, dispatch=False)
    long_ago = timezone.now() - timedelta(hours=25)
    BatchJob.objects.filter(pk__in=[old_done.pk, old_cancelled.pk]).update(finished_at=long_ago)
    BatchJob.objects.filter(pk=running.pk).update(created_at=long_ago, started_at=long_ago)
    orphan, young_orphan = batch_dir / str(uuid.uuid4()), batch_dir / str(uuid.uuid4())
    for folder in (orphan, young_orphan):
        folder.mkdir()
        (folder / "upload").write_bytes(b"x")
    os.utime(orphan, (long_ago.timestamp(), long_ago.timestamp()))
    assert batch_files_purge() == 3
    assert not job_folder(old_done).exists() and not job_folder(old_cancelled).exists() and not orphan.exists()
    assert job_folder(recent_done).exists() and job_folder(running).exists() and young_orphan.exists()
    # Results and errors are in PostgreSQL: a purged job's are still all there.
    assert BatchResult.objects.filter(job=old_done).count() == 600


def test_the_purge_runs_periodically_on_the_batch_queue():
    entry = django_settings.CELERY_BEAT_SCHEDULE["purge-batch-files"]
    assert entry["task"] in celery_app.tasks and entry["schedule"] == django_settings.CREDITRISK_BATCH_PURGE_SECONDS
    assert django_settings.CELERY_TASK_ROUTES[entry["task"]] == {"queue": "batch"}


def test_a_plain_file_over_the_text_limit_is_refused_at_upload(active_version, trained, settings, batch_dir):
    settings.CREDITRISK_MAX_DECOMPRESSED_BYTES = 50_000
    before = set(batch_dir.iterdir())
    with pytest.raises(DataFormatError, match="larger than the limit of 50,000 bytes of text"):
        _create(trained["text"].encode("latin-1"))
    assert set(batch_dir.iterdir()) == before and not BatchJob.objects.exists()
    assert _create(gzip.compress(trained["text"].encode("latin-1")), "a.txt.gz").status == "queued"  # known later
