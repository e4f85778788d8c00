"""A task that kills its worker process every time it runs is given up after CREDITRISK_MAX_ATTEMPTS.

The kernel's out-of-memory killer ends a process with SIGKILL and no chance to clean up. Here the
active model's artifact does the same when it is loaded (its sha256 is registered, so the integrity
check lets it through): every attempt at the task kills the pool process. Celery rejects the
message back to the queue (late acknowledgement, reject_on_worker_lost) and it comes round again;
the attempt counter in the row, bumped before the work starts, is what stops the loop.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import BatchResult, ScoreRequest
from scoring.tests.api.test_batches import _upload
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import WORKER_ENV, batch_final, model_version_register, poll_final

pytestmark = pytest.mark.django_db(transaction=True)

MAX_ATTEMPTS = int(WORKER_ENV["CREDITRISK_MAX_ATTEMPTS"])


class _KillsItsLoader:
    """Unpickling this SIGKILLs the process, as the OOM killer would while a model loads."""

    def __reduce__(self):
        return (exec, ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)",))


def test_a_task_that_always_kills_its_worker_is_given_up_with_the_reason(
    api, fault_workers, trained, tmp_path: Path, settings
):
    settings.CREDITRISK_BATCH_CHUNK_ROWS = 100
    models = tmp_path / "worker-models"
    model_version_register(trained, models, artifact=pickle.dumps(_KillsItsLoader()))
    fault_workers.start("oom-killed", env={"CREDITRISK_MODEL_DIR": str(models)})

    request_id = api.post("/api/v1/score-requests/?async=true", applicant_inputs(seed=61)[0], format="json").json()[
        "id"
    ]
    body = poll_final(api, request_id, 60)
    assert body["status"] == "failed" and body["decision"] == ""
    assert body["error"] == f"given up after {MAX_ATTEMPTS} attempts that did not finish"
    assert ScoreRequest.objects.get(pk=request_id).attempts == MAX_ATTEMPTS + 1  # the last one only gave up

    data = to_original_format(synthetic_applications(100, seed=62).drop(columns=[schema.LABEL])).encode("latin-1")
    job = batch_final(api, _upload(api, data).json()["id"], 60)
    assert job["status"] == "failed"
    assert job["error"] == f"chunk 0 (lines 1-100) was given up after {MAX_ATTEMPTS} attempts that did not finish"
    assert not BatchResult.objects.filter(job_id=job["id"]).exists()

    deaths = fault_workers.log("oom-killed").read_text().count("exited with 'signal 9 (SIGKILL)'")
    assert deaths == 2 * MAX_ATTEMPTS  # each attempt died, none more: no loop

    model_version_register(trained, models, version="v2")  # a model that loads: the same worker scores again
    assert (
        poll_final(
            api,
            api.post("/api/v1/score-requests/?async=true", applicant_inputs(seed=63)[0], format="json").json()["id"],
            30,
        )["status"]
        == "done"
    )
