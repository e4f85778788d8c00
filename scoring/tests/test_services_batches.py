"""Bulk jobs through the services, in this process: formats, bad rows, refusals, exactly once, audit."""

from __future__ import annotations

import gzip
import io
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.db import connection

from ml import schema
from ml.data import parse_applications
from ml.file_formats import DataFormatError
from ml.predict import score_applications
from scoring.model_registry import model_version_for_scoring, model_version_load, points_scale
from scoring.models import BatchChunk, BatchJob, BatchResult, BatchRowError, ScoreRequest
from scoring.selectors import batch_result_rows
from scoring.services import batch_chunks
from scoring.services.audit_verification import audit_verify
from scoring.services.batch_chunks import batch_chunk_process, batch_job_run_inline, give_way_to_single_scores
from scoring.services.batch_files import UploadTooLargeError
from scoring.services.batch_jobs import batch_job_cancel, batch_job_create, batch_job_index

pytestmark = pytest.mark.django_db


def _create(data: bytes, name: str = "applications.txt") -> BatchJob:
    pieces = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    return batch_job_create(content=pieces, original_name=name, uploaded_by=None, channel=BatchJob.Channel.COMMAND)


def _run(data: bytes, name: str = "applications.txt") -> BatchJob:
    return batch_job_run_inline(job=_create(data, name))


def _as_csv(text: str) -> bytes:
    frame = parse_applications(text).frame
    return frame.to_csv(index=False).encode("utf-8")


def _scored_whole(text: str) -> pd.DataFrame:
    """The whole file scored in this process by the active version, as ``score_csv`` used to."""
    version = model_version_for_scoring()
    model = model_version_load(model_version=version)
    frame = parse_applications(text).frame
    return score_applications(model, frame, scale=points_scale(), threshold=version.threshold)


def _results(job: BatchJob) -> pd.DataFrame:
    return pd.DataFrame(list(batch_result_rows(job=job)), columns=["ID_CLIENT", "p", "score", "decision", "reasons"])


def test_original_format_is_scored_like_the_whole_file(active_version, trained, django_capture_on_commit_callbacks):
    job = _run(trained["text"].encode("latin-1"))
    assert (job.status, job.rows_total, job.rows_done, job.rows_failed) == ("done", 600, 600, 0)
    assert job.chunks_done == job.chunks_total == 6
    assert job.model_version == active_version and job.threshold == active_version.threshold
    expected = _scored_whole(trained["text"])
    got = _results(job)
    assert got["ID_CLIENT"].tolist() == expected[schema.ID_COLUMN].tolist()  # file order
    assert np.allclose(got["p"].astype(float), expected["probability_bad"], atol=1e-6)
    assert got["decision"].tolist() == expected["decision"].tolist()
    declined = got[got["decision"] == "decline"]
    assert len(declined) and (declined["reasons"].str.len() > 0).all()


def test_csv_and_gzip_give_the_same_decisions(active_version, trained):
    plain = _results(_run(trained["text"].encode("latin-1")))
    csv_gz = _run(gzip.compress(_as_csv(trained["text"])), name="applications.csv.gz")
    assert csv_gz.layout["file_format"] == "csv" and csv_gz.layout["compressed"]
    assert csv_gz.file_sha256 and csv_gz.rows_done == 600
    pd.testing.assert_frame_equal(_results(csv_gz), plain)


def test_bad_rows_are_listed_and_the_job_still_finishes(active_version, trained):
    lines = trained["text"].encode("latin-1").split(b"\r\n")
    fields = lines[4].split(b"\t")
    fields[2] = b"99"  # PAYMENT_DAY outside its allowed values
    lines[4] = b"\t".join(fields)
    lines[250] = lines[250].rsplit(b"\t", 1)[0]  # one column short
    job = _run(b"\r\n".join(lines))
    assert (job.status, job.rows_done, job.rows_failed) == ("done", 598, 2)
    errors = list(BatchRowError.objects.filter(job=job).values_list("line", "column", "problem"))
    assert errors[0][:2] == (5, "PAYMENT_DAY") and "'99'" in errors[0][2]
    assert errors[1][0] == 251 and "expected 53 columns, found 52" in errors[1][2]
    assert not BatchResult.objects.filter(job=job, line__in=[5, 251]).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"ID_CLIENT;PAYMENT_DAY\r\n1;5\r\n", "semicolons"),
        ("ID_CLIENT,PAYMENT_DAY\n".encode("utf-16"), "UTF-16"),
        (b"ID_CLIENT,NOT_A_COLUMN\n1,2\n", "unknown columns: NOT_A_COLUMN"),
        (b"a\tb\tc\r\nd\te\tf\r\n", "expected 53 TAB-separated columns"),
    ],
)
def test_a_wrong_file_is_refused_at_once_and_leaves_nothing(active_version, batch_dir, data, message):
    before = set(Path(batch_dir).iterdir())
    with pytest.raises(DataFormatError, match=message):
        _create(data)
    assert not BatchJob.objects.exists()
    assert set(Path(batch_dir).iterdir()) == before


def test_header_only_csv_is_refused(active_version, trained):
    header = _as_csv(trained["text"]).split(b"\n", 1)[0] + b"\n"
    with pytest.raises(DataFormatError, match="header but no applications"):
        _create(header)


def test_an_upload_over_the_limit_is_refused(active_version, trained, settings, batch_dir):
    settings.CREDITRISK_MAX_UPLOAD_BYTES = 10_000
    before = set(Path(batch_dir).iterdir())
    with pytest.raises(UploadTooLargeError, match="larger than the limit of 10,000 bytes"):
        _create(trained["text"].encode("latin-1"))
    assert set(Path(batch_dir).iterdir()) == before and not BatchJob.objects.exists()


def test_a_truncated_gzip_is_refused_or_fails_the_job_with_the_reason(active_version, trained):
    packed = gzip.compress(trained["text"].encode("latin-1"))
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        _create(packed[: len(packed) // 2])  # the break is in the head: refused at once
    large = gzip.compress(trained["text"].encode("latin-1") * 8)
    job = _run(large[: int(len(large) * 0.9)])  # the break is far in: found while indexing
    assert job.status == "failed" and "truncated or corrupt" in job.error
    assert not BatchResult.objects.filter(job=job).exists()


def test_a_chunk_delivered_twice_is_stored_once(active_version, trained):
    job = batch_job_index(job_id=_create(trained["text"].encode("latin-1")).pk, dispatch=False)
    chunk = job.chunks.first()
    assert chunk is not None
    batch_chunk_process(chunk_id=chunk.pk)
    batch_chunk_process(chunk_id=chunk.pk)  # a second delivery of the same task
    job.refresh_from_db()
    assert BatchResult.objects.filter(chunk=chunk).count() == chunk.line_count == 100
    assert (job.chunks_done, job.rows_done) == (1, 100)


def test_job_audit_chain_verifies_and_finds_an_edited_row(active_version, trained):
    job = _run(trained["text"].encode("latin-1"))
    checked, problems = audit_verify()
    assert (checked, problems) == (6, [])
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # bypass the immutability trigger
        cursor.execute("UPDATE scoring_batchresult SET decision = 'approve' WHERE job_id = %s AND line = 42", [job.pk])
        cursor.execute("SET session_replication_role = DEFAULT")
    _, problems = audit_verify()
    assert any("rows of this batch chunk were edited" in str(p) for p in problems)


def test_the_database_refuses_to_change_a_batch_result(active_version, trained):
    from django.db import IntegrityError, transaction

    job = _run(trained["text"].encode("latin-1"))
    with pytest.raises(IntegrityError, match="batch audit record"), transaction.atomic():
        BatchResult.objects.filter(job=job, line=1).update(decision="approve")
    with pytest.raises(IntegrityError, match="batch audit record"), transaction.atomic():
        BatchChunk.objects.filter(job=job).update(rows_done=0)
    with pytest.raises(IntegrityError, match="batch audit record"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM scoring_batchresult WHERE job_id = %s", [job.pk])


def test_cancel_skips_the_chunks_not_yet_done(active_version, trained):
    job = batch_job_index(job_id=_create(trained["text"].encode("latin-1")).pk, dispatch=False)
    first, *rest = job.chunks.order_by("index")
    batch_chunk_process(chunk_id=first.pk)
    batch_job_cancel(job=job)
    for chunk in rest:
        batch_chunk_process(chunk_id=chunk.pk)
    job.refresh_from_db()
    assert (job.status, job.rows_done) == ("cancelled", 100)
    assert BatchResult.objects.filter(job=job).count() == 100
    assert set(job.chunks.values_list("status", flat=True)) == {"done", "cancelled"}


def test_a_chunk_that_keeps_dying_is_given_up(active_version, trained, settings):
    settings.CREDITRISK_MAX_ATTEMPTS = 2
    job = batch_job_index(job_id=_create(trained["text"].encode("latin-1")).pk, dispatch=False)
    chunk = job.chunks.first()
    assert chunk is not None
    BatchChunk.objects.filter(pk=chunk.pk).update(attempts=2)  # two deliveries died mid-task before
    batch_chunk_process(chunk_id=chunk.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "given up after 2 attempts" in job.error


def test_an_altered_model_artifact_fails_the_job_and_decides_nothing(active_version, trained, tmp_path, settings):
    altered = tmp_path / "altered"
    altered.mkdir()
    (altered / trained["scorer"].name).write_bytes(trained["scorer"].read_bytes() + b"tampered")
    settings.CREDITRISK_MODEL_DIR = altered
    job = _run(trained["text"].encode("latin-1"))
    assert job.status == "failed" and "refusing to load it" in job.error
    assert not BatchResult.objects.filter(job=job).exists()


def test_without_an_active_model_the_job_fails_with_the_reason(db, trained):
    job = _run(trained["text"].encode("latin-1"))
    assert job.status == "failed" and "no model version is active" in job.error


def test_text_that_reads_as_a_number_column_is_an_error_not_a_crash(active_version, trained):
    frame = pd.read_csv(io.BytesIO(_as_csv(trained["text"])), dtype=str, keep_default_na=False)
    frame.loc[3, "PERSONAL_MONTHLY_INCOME"] = "lots"
    frame.loc[7, "PERSONAL_MONTHLY_INCOME"] = "inf"
    job = _run(frame.to_csv(index=False).encode())
    assert (job.status, job.rows_failed) == ("done", 2)
    problems = dict(BatchRowError.objects.filter(job=job).values_list("line", "problem"))
    assert "not a number" in problems[5] and "not a finite number" in problems[9]


def test_bulk_reasons_come_from_the_inputs_the_model_relies_on_most(active_version, trained, settings):
    def reason_columns() -> list[tuple[str, set[str]]]:
        job = _run(trained["text"].encode("latin-1"))
        rows = BatchResult.objects.filter(job=job).values_list("decision", "reasons")
        return [(decision, {c for reason in reasons for c in reason["columns"]}) for decision, reasons in rows]

    active_version.feature_importance = {"AGE": 0.03, "PAYMENT_DAY": 0.02, "SEX": 0.5, "QUANT_CARS": 0.001}
    active_version.save()
    pair = {"AGE", "PAYMENT_DAY"}
    settings.CREDITRISK_BATCH_REASON_INPUTS = 0  # every input is a candidate
    assert set().union(*(columns for _, columns in reason_columns())) - pair
    settings.CREDITRISK_BATCH_REASON_INPUTS = 2
    limited = reason_columns()
    # Every decline has a reason: from the two inputs (SEX, excluded from the model, is never a
    # candidate), or, where neither lowers the risk, from all the others.
    assert all(columns for decision, columns in limited if decision == "decline")
    assert all(columns <= pair or not columns & pair for _, columns in limited)
    assert sum(bool(columns) and columns <= pair for _, columns in limited) > len(limited) / 4


def test_bulk_reasons_by_default_for_declined_rows_only(active_version, trained, settings):
    probabilities = _results(_run(trained["text"].encode("latin-1")))["p"].astype(float)
    active_version.threshold = float(probabilities.median())  # half approved, half declined
    active_version.save()
    declined_only = _results(_run(trained["text"].encode("latin-1")))
    approved = declined_only[declined_only["decision"] == "approve"]
    assert len(approved) > 100 and (approved["reasons"] == "").all()
    assert (declined_only.loc[declined_only["decision"] == "decline", "reasons"] != "").mean() > 0.9
    settings.CREDITRISK_BATCH_REASONS = "all"
    everyone = _results(_run(trained["text"].encode("latin-1")))
    assert (everyone.loc[everyone["decision"] == "approve", "reasons"] != "").any()
    pd.testing.assert_frame_equal(everyone.drop(columns="reasons"), declined_only.drop(columns="reasons"))
    declined = everyone["decision"] == "decline"
    assert everyone.loc[declined, "reasons"].tolist() == declined_only.loc[declined, "reasons"].tolist()


def test_a_chunk_of_nothing_but_bad_rows_is_listed_not_crashed(active_version, trained):
    lines = trained["text"].encode("latin-1").split(b"\r\n")
    for i in range(100, 200):  # the whole second chunk
        lines[i] = lines[i].replace(b"\t", b"\tX", 1)
    job = _run(b"\r\n".join(lines))
    assert (job.status, job.rows_done, job.rows_failed) == ("done", 500, 100)


def test_a_chunk_scored_in_progress_slices_stores_exactly_what_one_pass_stores(active_version, trained, settings):
    settings.CREDITRISK_BATCH_CHUNK_ROWS = settings.CREDITRISK_BATCH_MIN_CHUNK_ROWS = 1000  # one chunk of 600 rows
    settings.CREDITRISK_BATCH_PROGRESS_ROWS = 10**6
    whole = _run(trained["text"].encode("latin-1"))
    settings.CREDITRISK_BATCH_PROGRESS_ROWS = 7  # 86 slices, each followed by a progress update
    sliced = _run(trained["text"].encode("latin-1"))
    assert whole.chunks_total == sliced.chunks_total == 1
    digests = [list(job.chunks.order_by("index").values_list("results_sha256", "rows_done")) for job in (whole, sliced)]
    assert digests[0] == digests[1]
    pd.testing.assert_frame_equal(_results(sliced), _results(whole))
    _, problems = audit_verify()
    assert problems == []


def test_progress_counts_the_rows_a_chunk_under_way_has_scored(active_version, trained, settings):
    from scoring.selectors import batch_job_progress

    job = batch_job_index(job_id=_create(trained["text"].encode("latin-1")).pk, dispatch=False)
    first, second = job.chunks.order_by("index")[:2]
    batch_chunk_process(chunk_id=first.pk)
    BatchChunk.objects.filter(pk=second.pk).update(rows_scored=40)  # what a worker mid-chunk reports
    job.refresh_from_db()
    progress = batch_job_progress(job=job)
    assert progress["rows_handled"] == job.rows_done + 40 == first.line_count + 40
    assert progress["rows_in_progress"] == 40 and 0 < progress["percent"] < 100
    assert progress["rows_per_second"] and progress["eta_seconds"] is not None


@pytest.fixture
def single_score_queue(settings):
    """A queue of its own standing for the single-score queue, and a way to leave a message waiting in it."""
    from celery import current_app

    name = f"give-way-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = name
    settings.CREDITRISK_BATCH_GIVE_WAY_POLL_SECONDS = 0.02
    with current_app.connection_for_write() as conn:
        queue = conn.SimpleQueue(name)
        yield queue
        queue.clear()
        queue.close()


def _timed(function) -> float:
    started = time.monotonic()
    function()
    return time.monotonic() - started


def test_bulk_work_gives_way_while_single_scores_wait_and_only_for_so_long(settings, single_score_queue, monkeypatch):
    settings.CREDITRISK_BATCH_GIVE_WAY_SECONDS = 0.4
    assert _timed(give_way_to_single_scores) < 0.2  # nothing waiting: no pause
    single_score_queue.put({"waiting": True})
    monkeypatch.setattr(batch_chunks, "GIVE_WAY_STALL_POLLS", 10**6)  # as if another process were taking them
    assert 0.4 <= _timed(give_way_to_single_scores) < 1.5  # a message waits: pauses, up to the bound
    monkeypatch.setattr(batch_chunks, "GIVE_WAY_STALL_POLLS", 10)
    settings.CREDITRISK_BATCH_GIVE_WAY_SECONDS = 30
    waited = _timed(give_way_to_single_scores)  # nobody takes it: the queue does not move, so no long wait
    assert 10 * 0.02 <= waited < 2, waited
    settings.CREDITRISK_BATCH_GIVE_WAY_SECONDS = 0
    assert _timed(give_way_to_single_scores) < 0.2  # 0: never gives way
    single_score_queue.get(timeout=1).ack()
    settings.CREDITRISK_BATCH_GIVE_WAY_SECONDS = 0.4
    assert _timed(give_way_to_single_scores) < 0.2  # taken by a worker: no pause again


def test_a_chunk_gives_way_between_its_slices_and_before_it_is_stored(
    active_version, trained, settings, single_score_queue, caplog, monkeypatch
):
    settings.CREDITRISK_BATCH_CHUNK_ROWS = settings.CREDITRISK_BATCH_MIN_CHUNK_ROWS = 1000  # one chunk of 600 rows
    settings.CREDITRISK_BATCH_PROGRESS_ROWS = 300  # two slices: three chances to give way
    settings.CREDITRISK_BATCH_GIVE_WAY_SECONDS = 0.25
    monkeypatch.setattr(batch_chunks, "GIVE_WAY_STALL_POLLS", 10**6)  # as if another process were taking them
    single_score_queue.put({"waiting": True})
    with caplog.at_level("INFO", logger="scoring.services.batch_chunks"):
        took = _timed(lambda: _run(trained["text"].encode("latin-1")))
    assert took >= 3 * 0.25
    waited = re.search(r"gave way to single scores for ([0-9.]+) s", caplog.text)
    assert waited and float(waited.group(1)) >= 0.7


def test_bulk_work_paces_itself_only_while_single_scores_are_requested(active_version, settings):
    """Work of ``w`` seconds is followed by a pause of w * (1 / share - 1), bounded, and only while a
    single score was requested within the window."""
    from scoring.services.batch_chunks import pace_beside_single_scores
    from scoring.services.score_requests import score_request_create
    from scoring.tests.factories import applicant_inputs

    settings.CREDITRISK_BATCH_SHARE, settings.CREDITRISK_BATCH_SHARE_WINDOW_SECONDS = 0.5, 2
    settings.CREDITRISK_BATCH_GIVE_WAY_SECONDS = 5
    assert pace_beside_single_scores(0.1) == 0.0  # no single score requested: full speed
    request = score_request_create(inputs=applicant_inputs(seed=5)[0], requested_by=None, channel="api")
    took = _timed(lambda: pace_beside_single_scores(0.1))
    assert 0.1 <= took < 0.5  # half the time: as long a pause as the work
    settings.CREDITRISK_BATCH_SHARE = 0.25
    assert pace_beside_single_scores(0.05) == pytest.approx(0.15)  # a quarter of the time
    settings.CREDITRISK_BATCH_GIVE_WAY_SECONDS = 0.2
    assert pace_beside_single_scores(10.0) == pytest.approx(0.2)  # bounded
    settings.CREDITRISK_BATCH_SHARE = 1
    assert pace_beside_single_scores(0.1) == 0.0  # 1: never
    settings.CREDITRISK_BATCH_SHARE = 0.5
    ScoreRequest.objects.filter(pk=request.pk).update(created_at=request.created_at - timedelta(seconds=3))
    assert pace_beside_single_scores(0.1) == 0.0  # the last one is older than the window


def test_a_chunk_paces_itself_after_each_slice_and_after_it_is_stored(active_version, trained, settings, monkeypatch):
    settings.CREDITRISK_BATCH_CHUNK_ROWS = settings.CREDITRISK_BATCH_MIN_CHUNK_ROWS = 1000  # one chunk of 600 rows
    settings.CREDITRISK_BATCH_PROGRESS_ROWS = 300  # two slices
    worked: list[float] = []

    def pace(seconds: float) -> float:
        worked.append(seconds)
        return 0.0

    monkeypatch.setattr(batch_chunks, "pace_beside_single_scores", pace)
    job = _run(trained["text"].encode("latin-1"))
    assert job.status == "done" and len(worked) == 3 and all(seconds > 0 for seconds in worked)


def test_a_chunk_checks_its_rows_foreign_keys_before_it_takes_the_chains_head(active_version, trained):
    """The head every decision waits for is held for the chunk's link and commit only: the deferred
    checks of the rows copied run before it is locked, not at COMMIT."""
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the statements pinned are PostgreSQL's")  # CI runs on PostgreSQL
    job = batch_job_index(job_id=_create(trained["text"].encode("latin-1")).pk, dispatch=False)
    with CaptureQueriesContext(connection) as queries:
        chunk = job.chunks.order_by("index").first()
        assert chunk is not None
        batch_chunk_process(chunk_id=chunk.pk)
    statements = [query["sql"] for query in queries.captured_queries]
    checks = statements.index("SET CONSTRAINTS ALL IMMEDIATE")
    head = next(i for i, sql in enumerate(statements) if "scoring_auditchainhead" in sql and "FOR UPDATE" in sql)
    assert checks < head and BatchResult.objects.filter(job=job).exists()  # (the COPY is not among the captured)
