"""A process that dies between storing work and publishing its message, in either order.

* Commit, then crash before the publish: a bulk job's indexing commits its chunks and publishes them
  after the commit. A process that dies in between leaves chunks that no message will ever bring
  to a worker; the periodic sweep dispatches them and the job finishes, each row once.
* Publish, then crash before the commit: a score request is published inside its transaction. A
  process that dies in between leaves a message and no row; the worker waits briefly for the row,
  then drops the message with a warning. Nothing is scored, nothing is stored.

The crashes are real: a separate Python process runs the service and ``os._exit`` ends it at the
exact point, with no clean-up, as a SIGKILL or a power cut would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from django.db import connection

from ml import schema
from ml.data import to_original_format
from ml.sample import synthetic_applications
from scoring.models import Applicant, BatchResult, ScoreRequest
from scoring.services.batch_jobs import batch_job_create
from scoring.tests.api.conftest import REPO
from scoring.tests.factories import applicant_inputs
from scoring.tests.faults.conftest import batch_final, poll_final, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CRASHED = 75  # the exit status of the simulated crash, so the test knows it happened where intended


def _run_and_crash(code: str, broker_url: str, batch_dir) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "creditrisk.settings.test",
        "CELERY_BROKER_URL": broker_url,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CREDITRISK_BATCH_DIR": str(batch_dir),
    }
    prologue = "import os, django\ndjango.setup()\n"
    done = subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert done.returncode == CRASHED, done.stderr


def test_chunks_committed_but_never_published_are_dispatched_by_the_sweep(
    api, client_user, active_version, fault_workers, batch_dir, settings
):
    settings.CREDITRISK_BATCH_CHUNK_ROWS = 100
    data = to_original_format(synthetic_applications(400, seed=71).drop(columns=[schema.LABEL])).encode("latin-1")
    job = batch_job_create(
        content=[data], original_name="portfolio.txt", uploaded_by=client_user, channel="api", dispatch=False
    )
    _run_and_crash(
        f"""
        from django.db import transaction
        from scoring.services.batch_jobs import batch_job_index
        commit_hook = transaction.on_commit
        # Whatever was to run after the commit (publishing the chunks), the process dies instead.
        transaction.on_commit = lambda publish, using=None, robust=False: commit_hook(lambda: os._exit({CRASHED}), using)
        batch_job_index(job_id="{job.pk}")
    """,
        fault_workers.broker.url,
        batch_dir,
    )
    job.refresh_from_db()
    assert (job.status, job.chunks_total, job.chunks.filter(status="queued").count()) == ("running", 4, 4)
    assert fault_workers.broker.queue_length("batch") == 0  # committed, and not one message sent

    fault_workers.start(
        "after-crash", beat=True, env={"CREDITRISK_SWEEP_SECONDS": "1", "CREDITRISK_STALE_SECONDS": "2"}
    )
    body = batch_final(api, str(job.pk), 60)
    assert (body["status"], body["rows_done"], body["chunks_done"]) == ("done", 400, 4)
    assert sorted(BatchResult.objects.filter(job=job).values_list("line", flat=True)) == list(range(1, 401))


def test_a_message_whose_transaction_never_committed_is_dropped(api, active_version, fault_workers, batch_dir):
    inputs = json.dumps(applicant_inputs(seed=72)[0])
    _run_and_crash(
        f"""
        import json
        from scoring.services import score_requests
        publish = score_requests.queues.send
        def publish_then_crash(*args, **options):
            publish(*args, **options)
            os._exit({CRASHED})  # published; the transaction is still open, and dies with the process
        score_requests.queues.send = publish_then_crash
        score_requests.score_request_create(inputs=json.loads({inputs!r}), requested_by=None, channel="api")
    """,
        fault_workers.broker.url,
        batch_dir,
    )
    assert fault_workers.broker.queue_length("scoring") == 1
    assert not ScoreRequest.objects.exists() and not Applicant.objects.exists()

    fault_workers.start("orphans")
    log = fault_workers.log("orphans")
    wait_for(
        lambda: log.exists() and "does not exist; message dropped" in log.read_text(),
        30,
        "the worker to drop the message",
    )
    assert not ScoreRequest.objects.exists() and fault_workers.broker.queue_length("scoring") == 0

    request_id = api.post("/api/v1/score-requests/?async=true", applicant_inputs(seed=73)[0], format="json").json()[
        "id"
    ]
    assert poll_final(api, request_id, 30)["status"] == "done"
    assert ScoreRequest.objects.count() == 1
