"""Every entry point that takes a file gives the same verdict, in the same words, on the same file.

The entry points: the two ``ml`` readers (a whole file; a bulk job's head and indexing pass), the bulk
upload API, the demo page's upload and the simulation upload. A bulk job is indexed here, inline, as
its worker would (a file can be refused at upload or when its index is built: both count).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ml.tests.format_corpus import ACCEPTED, FILES, Verdict, bulk_verdict, whole_file_verdict
from scoring.models import BatchJob
from scoring.services.batch_jobs import batch_job_index
from scoring.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

_DEMO_ERROR = re.compile(r'data-testid="upload-error">(.*?)</pre>', re.DOTALL)


def _named(name: str, shown: str) -> Verdict:
    """The refusal without the file's name, which the bulk API and the demo page put before it."""
    assert shown.startswith(f"{name}: "), shown
    return Verdict(False, shown.removeprefix(f"{name}: "))


@pytest.fixture
def logged_in(client):
    client.force_login(UserFactory(username="officer"))
    return client


def _indexed(job_id: str) -> Verdict:
    job = batch_job_index(job_id=job_id, dispatch=False)
    return Verdict(False, job.error) if job.status == BatchJob.Status.FAILED else ACCEPTED


def bulk_api_verdict(api, name: str, content: bytes) -> Verdict:
    response = api.post("/api/v1/batches/", {"file": SimpleUploadedFile(name, content)}, format="multipart")
    if response.status_code == 400:
        return _named(name, response.json()["file"][0])
    assert response.status_code == 202, response.content
    return _indexed(response.json()["id"])


def demo_page_verdict(client, name: str, content: bytes) -> Verdict:
    response = client.post("/", {"file": SimpleUploadedFile(name, content)})
    if response.status_code == 400:
        shown = _DEMO_ERROR.search(response.content.decode())
        assert shown is not None, response.content
        return _named(name, html.unescape(shown.group(1)))
    assert response.status_code == 302, response.content
    return _indexed(response["Location"].rstrip("/").rsplit("/", 1)[1])


def simulation_upload_verdict(api, name: str, content: bytes) -> Verdict:
    response = api.post("/api/v1/simulations/", {"file": SimpleUploadedFile(name, content)}, format="multipart")
    if response.status_code == 400:
        return Verdict(False, response.json()["file"][0])
    assert response.status_code == 202, response.content
    return ACCEPTED


@pytest.mark.parametrize("name", list(FILES))
def test_every_entry_point_gives_the_same_verdict_and_message(name, api, logged_in, active_version, tmp_path: Path):
    content = FILES[name]
    verdicts = {
        "ml whole file": whole_file_verdict(content),
        "ml bulk": bulk_verdict(content, tmp_path),
        "bulk upload API": bulk_api_verdict(api, name, content),
        "demo page": demo_page_verdict(logged_in, name, content),
        "simulation upload": simulation_upload_verdict(api, name, content),
    }
    assert len(set(verdicts.values())) == 1, verdicts
