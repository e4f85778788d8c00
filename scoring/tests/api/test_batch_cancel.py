"""Cancelling a bulk job with a real worker: the answer comes at once in every state, and the work stops.

Before, indexing held the job's row locked for its whole pass over the file, so a cancel during it
waited for the end of the pass (until gunicorn killed the request after 30 s).
"""

from __future__ import annotations

import time
import zlib

import pytest

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import BatchChunk, BatchJob, BatchResult
from scoring.services.batch_files import job_folder
from scoring.tests.api.test_batches import _upload, _wait
from scoring.tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _gzip_with_blank_lines(rows: bytes, blank_bytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\n" * 1_000_000
    return b"".join(
        [packer.compress(rows), *(packer.compress(block) for _ in range(blank_bytes // len(block))), packer.flush()]
    )


def _cancel(api, job_id: str) -> tuple[float, dict]:
    started = time.perf_counter()
    response = api.post(f"/api/v1/batches/{job_id}/cancel/")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.content
    return elapsed, response.json()


def test_cancel_during_indexing_answers_at_once_and_the_indexing_stops(
    api, active_version, celery_worker_process, trained
):
    # 1 GB of blank lines in a 1 MB gzip: indexing takes a minute or more on this machine.
    upload = _gzip_with_blank_lines(trained["text"].encode("latin-1"), 1_000_000_000)
    job_id = _upload(api, upload, "blank.txt.gz").json()["id"]
    folder = job_folder(BatchJob(id=job_id))
    partial = lambda: list(folder.glob("plain.*.partial"))  # noqa: E731
    wait_for(lambda: partial() and partial()[0].stat().st_size > 20_000_000, 60, "the indexing to be under way")
    elapsed, body = _cancel(api, job_id)
    print(f"cancel during indexing answered in {elapsed:.3f} s")  # shown with -s: the figure in the docs
    assert body["status"] == "cancelled" and elapsed < 2, (elapsed, body)
    assert not partial()  # the decompressed copy went with the cancel
    # The worker (one process) is free again long before the file's end: a small job is done at once.
    started = time.perf_counter()
    small = _wait(api, _upload(api, trained["text"].encode("latin-1")).json()["id"], timeout=30)
    assert small["status"] == "done" and time.perf_counter() - started < 20
    job = BatchJob.objects.get(pk=job_id)
    assert (job.status, job.chunks_total, job.rows_total) == ("cancelled", None, None)
    assert not job.chunks.exists() and not partial() and not (folder / "plain.txt").exists()


def test_cancel_while_chunks_run_answers_at_once_and_stops_the_rest(api, active_version, celery_worker_process):
    frame = synthetic_applications(40_000, seed=5).drop(columns=[schema.LABEL])
    job_id = _upload(api, to_original_format(frame).encode("latin-1"), "big.txt").json()["id"]
    wait_for(lambda: BatchJob.objects.get(pk=job_id).chunks_done >= 1, 120, "a first chunk to be done")
    elapsed, body = _cancel(api, job_id)
    print(f"cancel while chunks run answered in {elapsed:.3f} s")
    assert body["status"] == "cancelled" and elapsed < 2, (elapsed, body)
    assert body["chunks_done"] < body["chunks_total"]
    # The chunks left are skipped as the worker takes them; the one it was scoring stores nothing.
    wait_for(
        lambda: not BatchChunk.objects.filter(job_id=job_id, status="queued").exists(),
        60,
        "every chunk to be done or skipped",
    )
    job = BatchJob.objects.get(pk=job_id)
    assert (job.status, job.rows_done, job.chunks_done) == ("cancelled", body["rows_done"], body["chunks_done"])
    assert BatchResult.objects.filter(job_id=job_id).count() == job.rows_done
    statuses = list(BatchChunk.objects.filter(job_id=job_id).values_list("status", flat=True))
    assert job.chunks_total is not None
    assert (
        statuses.count("done") == job.chunks_done and statuses.count("cancelled") == job.chunks_total - job.chunks_done
    )
    results = api.get(f"/api/v1/batches/{job_id}/results/")
    assert results.status_code == 200
    assert len(b"".join(results.streaming_content).decode().splitlines()) == job.rows_done + 1


def test_a_job_whose_files_were_purged_still_answers_with_its_results(
    api, client_user, active_version, trained, settings
):
    from scoring.services.batch_chunks import batch_job_run_inline
    from scoring.services.batch_files import batch_files_purge
    from scoring.services.batch_jobs import batch_job_create

    settings.CREDITRISK_BATCH_FILE_RETENTION_HOURS = 0
    text = trained["text"].encode("latin-1")
    job = batch_job_create(
        content=[text], original_name="a.txt", uploaded_by=client_user, channel="api", dispatch=False
    )
    job = batch_job_run_inline(job=job)
    assert batch_files_purge() >= 1 and not job_folder(job).exists()
    detail = api.get(f"/api/v1/batches/{job.pk}/")
    assert detail.status_code == 200 and detail.json()["rows_done"] == 600
    results = api.get(f"/api/v1/batches/{job.pk}/results/")
    assert results.status_code == 200 and len(b"".join(results.streaming_content).splitlines()) == 601
    assert api.get(f"/api/v1/batches/{job.pk}/errors/").status_code == 200
    assert api.post(f"/api/v1/batches/{job.pk}/cancel/").status_code == 409  # done: nothing to cancel
