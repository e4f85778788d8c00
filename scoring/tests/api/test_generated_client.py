"""A client generated from the served OpenAPI schema by openapi-python-client works against a live server.

The client is generated offline from the schema the server serves, imported, and used as a lender's
integrator would: score one applicant, upload a bulk job, poll it and download its results, with a
real Celery worker behind the server. Anything the schema gets wrong (the token's prefix, a required
field the server omits, a media type) breaks the generated code here.
"""

from __future__ import annotations

import csv
import importlib
import io
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from rest_framework.authtoken.models import Token

from scoring.tests.factories import UserFactory, applicant_inputs

pytestmark = pytest.mark.django_db(transaction=True)
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "creditrisk_client"


@pytest.fixture
def generated(live_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The package openapi-python-client generates from the live server's schema, imported."""
    schema = tmp_path / "openapi.json"
    schema.write_bytes(httpx.get(f"{live_server.url}/api/schema/?format=json", timeout=30).raise_for_status().content)
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run on the generated code: not needed to import it
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(schema),
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    return importlib.import_module(PACKAGE)


@pytest.fixture
def token(db) -> str:
    return Token.objects.create(user=UserFactory.create(username="integrator")).key


def _module(package, name: str):
    return importlib.import_module(f"{package.__name__}.{name}")


def test_the_generated_client_authenticates_only_with_the_documented_token_prefix(generated, live_server, token):
    models_list = _module(generated, "api.v1.v1_models_list")
    default = generated.AuthenticatedClient(base_url=live_server.url, token=token)  # openapi-python-client: Bearer
    assert models_list.sync_detailed(client=default).status_code == 401
    documented = generated.AuthenticatedClient(base_url=live_server.url, token=token, prefix="Token")
    assert models_list.sync_detailed(client=documented).status_code == 200


def test_the_generated_client_scores_runs_a_bulk_job_and_downloads_its_results(
    generated, live_server, token, active_version, celery_worker_process, trained
):
    client = generated.AuthenticatedClient(
        base_url=live_server.url,
        token=token,
        prefix="Token",
        raise_on_unexpected_status=True,
        timeout=httpx.Timeout(60),
    )
    models = _module(generated, "models")

    score = _module(generated, "api.v1.v1_score_requests_create")
    applicant = models.ApplicantInputRequest.from_dict(applicant_inputs(seed=3)[0])
    response = score.sync_detailed(client=client, body=applicant)
    assert response.status_code == 201, response.content
    scored = response.parsed
    assert isinstance(scored, models.ScoreRequestOutput) and scored.status == models.WorkStatusEnum.DONE
    assert 0 <= scored.probability_bad <= 1 and isinstance(scored.score, int)
    assert scored.decision in ("approve", "decline") and scored.model_version == "v1"
    detail = _module(generated, "api.v1.v1_score_requests_retrieve").sync(request_id=scored.id, client=client)
    assert detail.probability_bad == scored.probability_bad

    data = trained["text"].encode("latin-1")
    upload = models.UploadRequest(
        file=generated.types.File(
            payload=io.BytesIO(data), file_name="portfolio.txt", mime_type="text/tab-separated-values"
        )
    )
    created = _module(generated, "api.v1.v1_batches_create").sync_detailed(client=client, body=upload)
    assert created.status_code == 202, created.content
    job = created.parsed
    poll = _module(generated, "api.v1.v1_batches_retrieve")
    deadline = time.monotonic() + 120
    while job.status not in (models.BatchStatusEnum.DONE, models.BatchStatusEnum.FAILED):
        assert time.monotonic() < deadline, f"the bulk job is still {job.status} after 120 s"
        time.sleep(0.5)
        job = poll.sync(job_id=job.id, client=client)
    assert job.status == models.BatchStatusEnum.DONE, job.error
    assert (job.rows_total, job.rows_done, job.rows_failed) == (600, 600, 0)

    results = _module(generated, "api.v1.v1_batches_results_retrieve").sync(job_id=job.id, client=client)
    rows = list(csv.DictReader(io.StringIO(results)))
    assert len(rows) == 600 and set(rows[0]) == {"ID_CLIENT", "probability_bad", "score", "decision", "reasons"}
    assert all(row["decision"] in ("approve", "decline") for row in rows)
