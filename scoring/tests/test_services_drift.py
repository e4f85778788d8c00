"""Drift reports of a window's decisions (single and bulk) and of a file; the reference added afterwards."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from ml import schema
from ml.data import to_original_format
from ml.registry import save_table, sha256_file
from ml.sample import synthetic_applications
from scoring.models import BatchJob, DriftReport, ModelVersion
from scoring.services.batch_chunks import batch_job_run_inline
from scoring.services.batch_files import job_folder
from scoring.services.batch_jobs import batch_job_create
from scoring.services.drift import (
    NoDriftReferenceError,
    drift_reference_add,
    drift_report_for_file,
    drift_report_for_window,
)
from scoring.tasks import drift_report_task
from scoring.tests.factories import final_score_requests

pytestmark = pytest.mark.django_db


def applications_file(tmp_path: Path, n: int = 150, seed: int = 21, **changes: Any) -> Path:
    frame = synthetic_applications(n, seed=seed, with_label=False, first_id=100_000)
    for name, value in changes.items():
        frame[name] = value
    path = tmp_path / f"applications-{seed}.txt"
    path.write_text(to_original_format(frame), encoding="latin-1", newline="")
    return path


def bulk_job(path: Path) -> BatchJob:
    job = batch_job_create(
        content=[path.read_bytes()],
        original_name=path.name,
        uploaded_by=None,
        channel=BatchJob.Channel.COMMAND,
        dispatch=False,
    )
    return batch_job_run_inline(job=job)


def test_training_keeps_the_reference_of_the_development_rows(trained):
    reference = trained["result"].drift_reference
    assert reference["rows"] == trained["result"].rows["development"]
    assert set(reference["inputs"]) == set(schema.FEATURE_NAMES)
    assert sum(reference["score"]["counts"]) == reference["rows"]
    assert reference["score_source"] == "out-of-fold probabilities of the development rows"


def test_a_window_covers_single_and_bulk_decisions(drift_version, tmp_path):
    final_score_requests(drift_version, 3)
    job = bulk_job(applications_file(tmp_path))
    assert job.status == BatchJob.Status.DONE and job.rows_done == 150
    report = drift_report_for_window(since=timezone.now() - timedelta(hours=1))
    assert report.rows == 153
    assert "3 single and 150 bulk decisions by v1" in report.notes
    by_name = {row.name: row for row in report.inputs}
    assert by_name["AGE"].rows == 153 and by_name["RESIDENCIAL_CITY"].rows == 153  # bulk inputs read back


def test_bulk_decisions_whose_file_is_gone_count_in_the_score_only(drift_version, tmp_path):
    final_score_requests(drift_version, 2)
    job = bulk_job(applications_file(tmp_path))
    shutil.rmtree(job_folder(job))
    report = drift_report_for_window(since=timezone.now() - timedelta(hours=1))
    assert report.score is not None and report.score.rows == 152
    assert {row.rows for row in report.inputs} == {2}
    assert any(note.startswith("150 bulk decisions count in the score's index only") for note in report.notes)


def test_decisions_outside_the_window_are_left_out(drift_version):
    final_score_requests(drift_version, 2)
    report = drift_report_for_window(since=timezone.now() + timedelta(minutes=1))
    assert report.rows == 0 and "no decisions in the window" in report.notes
    assert report.score is not None and report.score.band == "none" and report.inputs == []


def test_a_file_whose_ages_moved_reads_act_on_age(drift_version, tmp_path):
    report = drift_report_for_file(data_uri=str(applications_file(tmp_path, n=600, AGE=79.0)))
    assert report.rows == 600 and report.score is not None
    by_name = {row.name: row for row in report.inputs}
    assert by_name["AGE"].band == "act" and "AGE" in report.inputs_to_act_on
    assert by_name["PRODUCT"].band == "stable"


def test_a_version_without_a_reference_says_how_to_add_one(active_version, tmp_path):
    with pytest.raises(NoDriftReferenceError, match="train --add-drift-reference v1"):
        drift_report_for_file(data_uri=str(applications_file(tmp_path)))


@pytest.fixture
def version_before_references(active_version, trained, tmp_path) -> ModelVersion:
    """The session's model registered as a version trained before references were kept: its training
    file, held-out ids and validation table (out-of-fold probabilities) as training recorded them."""
    result = trained["result"]
    data = tmp_path / "modelling.txt"
    data.write_text(to_original_format(synthetic_applications(600, seed=11)), encoding="latin-1", newline="")
    name = "v1.drift-test.validation.csv.gz"  # beside the session's model (active_version looks there)
    digest = save_table(result.validation, trained["folder"] / name)
    ModelVersion.objects.filter(pk=active_version.pk).update(
        data_source=str(data),
        data_sha256=sha256_file(data),
        holdout_ids=result.holdout_ids,
        validation_path=name,
        validation_sha256=digest,
    )
    active_version.refresh_from_db()
    return active_version


def test_the_reference_added_afterwards_is_the_one_training_built(version_before_references, trained):
    built = trained["result"].drift_reference
    added = drift_reference_add(model_version=version_before_references).drift_reference
    assert added["score_source"] == built["score_source"] == "out-of-fold probabilities of the development rows"
    assert added["rows"] == built["rows"]
    assert added["inputs"] == built["inputs"]
    assert added["score"]["counts"] == built["score"]["counts"]
    assert added["score"]["edges"] == pytest.approx(built["score"]["edges"], abs=1e-12)  # read back from CSV


def test_without_its_validation_table_the_reference_takes_the_scorers_probabilities(version_before_references):
    ModelVersion.objects.filter(pk=version_before_references.pk).update(validation_path="")
    version_before_references.refresh_from_db()
    added = drift_reference_add(model_version=version_before_references).drift_reference
    assert added["score_source"] == "the scorer's probabilities of the development rows (in-sample)"


def test_the_reference_is_not_added_from_another_file(active_version, tmp_path):
    other = applications_file(tmp_path, seed=3)
    with pytest.raises(NoDriftReferenceError, match="is not the file v1 was trained on"):
        drift_reference_add(model_version=active_version, data_uri=str(other))
    active_version.refresh_from_db()
    assert active_version.drift_reference == {}


def test_the_periodic_task_logs_and_stores_the_last_seven_days(drift_version, caplog):
    final_score_requests(drift_version, 4)
    with caplog.at_level(logging.INFO, logger="scoring.services.drift"):
        drift_report_task()
    stored = DriftReport.objects.get()
    assert stored.source == DriftReport.Source.WINDOW and stored.rows == 4
    assert stored.until is not None and stored.since is not None and stored.until - stored.since == timedelta(days=7)
    assert stored.score_psi == stored.report["score"]["psi"]
    assert "Population stability of decisions from" in caplog.text and "AGE" in caplog.text


def test_the_periodic_task_stores_nothing_for_a_version_without_a_reference(active_version, caplog):
    with caplog.at_level(logging.WARNING, logger="scoring.services.drift"):
        drift_report_task()
    assert not DriftReport.objects.exists()
    assert "--add-drift-reference v1" in caplog.text


def test_decisions_by_another_version_are_counted_not_compared(drift_version):
    final_score_requests(drift_version, 2)
    other = ModelVersion.objects.get(pk=drift_version.pk)
    other.pk, other.version, other.is_active = None, "v2", False
    other.save()
    report = drift_report_for_window(since=timezone.now() - timedelta(hours=1), model_version=other)
    assert report.rows == 0
    assert "2 decisions by other model versions are not included" in report.notes


def test_beat_runs_the_drift_report_daily_on_the_batch_queue(settings):
    from creditrisk.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["drift-report"]
    assert entry["task"] == drift_report_task.name == "scoring.tasks.drift_report_task"
    assert entry["schedule"] == 24 * 3600.0
    assert entry["task"] in app.tasks
    assert settings.CELERY_TASK_ROUTES[entry["task"]] == {"queue": "batch"}
