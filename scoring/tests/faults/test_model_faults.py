"""Model faults with a real worker: none trained yet, and the active model's artifact altered or deleted.

The rule under test: no decision is ever made by a model whose artifact does not match the sha256
in the registry, and a request that cannot be scored says why instead of waiting for ever.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import BatchResult, ScoreRequest
from scoring.tests.api.test_batches import _upload
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import batch_final, model_version_register, poll_final

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/score-requests/"


def _score(api, seed: int) -> dict:
    return poll_final(
        api, api.post(URL + "?async=true", applicant_inputs(seed=seed)[0], format="json").json()["id"], 30
    )


def _batch(api, seed: int) -> dict:
    data = to_original_format(synthetic_applications(120, seed=seed).drop(columns=[schema.LABEL])).encode("latin-1")
    return batch_final(api, _upload(api, data).json()["id"], 60)


def _assert_failed_without_decision(body: dict, reason: str) -> None:
    assert body["status"] == "failed" and reason in body["error"], body
    assert (body["decision"], body["probability_bad"], body["score"], body["model_version"]) == ("", None, None, None)


def test_a_worker_started_before_any_model_fails_requests_with_the_reason_then_scores(
    api, fault_workers, trained, tmp_path: Path, settings
):
    models = tmp_path / "worker-models"
    models.mkdir()
    fault_workers.start("untrained", env={"CREDITRISK_MODEL_DIR": str(models)})

    _assert_failed_without_decision(_score(api, 41), "no model version is active: run `python manage.py train` first")
    job = _batch(api, 42)
    assert job["status"] == "failed" and "no model version is active" in job["error"]
    health = api.get("/healthz").json()
    assert health["status"] == "unavailable" and "no active model" in health["checks"]["model"]

    model_version_register(trained, models)  # training finished and activated its version
    settings.CREDITRISK_MODEL_DIR = models
    scored = _score(api, 43)
    assert (scored["status"], scored["model_version"]) == ("done", "v1") and scored["decision"]
    job = _batch(api, 44)
    assert (job["status"], job["rows_done"]) == ("done", 120)
    assert not ScoreRequest.objects.exclude(status__in=["done", "failed"]).exists()


def test_an_altered_or_deleted_artifact_is_never_used_and_requests_fail_with_the_reason(
    api, fault_workers, trained, tmp_path: Path
):
    models = tmp_path / "worker-models"
    version = model_version_register(trained, models)
    artifact = models / version.scorer_path
    original = artifact.read_bytes()
    fault_workers.start("tampered", env={"CREDITRISK_MODEL_DIR": str(models)})
    assert _score(api, 51)["status"] == "done"  # the worker has loaded and checked the model

    artifact.write_bytes(original[:-64] + b"\0" * 64)  # altered: same size, different bytes
    _assert_failed_without_decision(_score(api, 52), "refusing to load it (it was altered or replaced)")
    job = _batch(api, 53)
    assert job["status"] == "failed" and "refusing to load it" in job["error"]
    assert not BatchResult.objects.filter(job_id=job["id"]).exists()

    artifact.write_bytes(original)  # the registered bytes again: scoring resumes
    assert _score(api, 54)["status"] == "done"

    artifact.unlink()
    _assert_failed_without_decision(_score(api, 55), "is missing; refusing to score without it")
    job = _batch(api, 56)
    assert job["status"] == "failed" and "is missing" in job["error"]
    assert not BatchResult.objects.filter(job_id=job["id"]).exists()

    decided = ScoreRequest.objects.filter(status="done")
    assert decided.count() == 2 and set(decided.values_list("model_version__artifact_sha256", flat=True)) == {
        version.artifact_sha256
    }
