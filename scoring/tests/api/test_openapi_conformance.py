"""Every operation answers as the OpenAPI schema says, and generated requests never cause a 5xx.

Every operation is called authenticated, as a client that has a scored request, a finished and a queued
bulk job, a finished simulation and an outcome upload of its own: the operations on one object are called
with the generated id (a 404 to check) and again, for schema-valid cases, with the id of the client's own
object (a 200, a 403 for staff-only reports, or a 409, whose body must match the schema too). Uploads are
files of applications in each declared media type (TAB, CSV, gzip), so "valid input is accepted" holds for
them as well: an outcome upload declares CSV only, and a labelled CSV of applications is an outcome file
(ID_CLIENT and TARGET_LABEL_BAD=1).

In the suite the examples are derandomized and bounded (the same on every run, CI cannot fail on a
lucky draw). ``make fuzz`` runs the same tests random-seeded, with schemathesis's coverage phase (every
boundary and enum value of every field), for ``FUZZ_SECONDS`` (environment:
``CREDITRISK_FUZZ_SECONDS``, ``CREDITRISK_FUZZ_SEED``); it prints each seed so a failure can be replayed.
"""

from __future__ import annotations

import functools
import gzip
import os
import random
import time
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import ignored_auth

from creditrisk.wsgi import application
from ml.data import to_original_format
from ml.sample import synthetic_applications
from ml.simulation import Economics
from scoring.models import BatchJob, ModelVersion, OutcomeUpload, ScoreRequest
from scoring.services.batch_chunks import batch_job_run_inline
from scoring.services.batch_jobs import batch_job_create
from scoring.services.outcomes import outcome_upload_create
from scoring.tests.factories import UserFactory, final_score_requests
from simulations.models import SimulationRun
from simulations.services import simulation_run_create, simulation_run_execute

OPERATIONS = {
    "GET /api/v1/score-requests/",
    "POST /api/v1/score-requests/",
    "GET /api/v1/score-requests/{request_id}/",
    "POST /api/v1/score-requests/{request_id}/replay/",
    "GET /api/v1/models/",
    "GET /api/v1/batches/",
    "POST /api/v1/batches/",
    "GET /api/v1/batches/{job_id}/",
    "POST /api/v1/batches/{job_id}/cancel/",
    "GET /api/v1/batches/{job_id}/results/",
    "GET /api/v1/batches/{job_id}/errors/",
    "GET /api/v1/simulations/",
    "POST /api/v1/simulations/",
    "GET /api/v1/simulations/{run_id}/",
    "GET /api/v1/simulations/{run_id}/decisions/",
    "GET /api/v1/models/{version}/performance/",
    "GET /api/v1/outcomes/",
    "POST /api/v1/outcomes/",
    "GET /api/v1/outcomes/{upload_id}/",
    "GET /api/v1/outcomes/{upload_id}/listed/",
    "GET /api/v1/shadow-scores/",
    "GET /api/v1/challenger/comparison/",
}

FUZZ_SECONDS = int(os.environ.get("CREDITRISK_FUZZ_SECONDS", "0"))  # 0: the suite's derandomized run
FUZZ_SEED = int(os.environ.get("CREDITRISK_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
FUZZ_DEADLINE = time.monotonic() + FUZZ_SECONDS


def _limits(examples: int, **extra: Any) -> settings:
    if FUZZ_SECONDS:  # random examples, more of them; the seed comes from pytest's --hypothesis-seed
        return settings(
            max_examples=examples * 4,
            deadline=None,
            derandomize=False,
            database=None,
            suppress_health_check=list(HealthCheck),
            **extra,
        )
    return settings(
        max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), **extra
    )


# Files of (labelled) applications, as each declared upload media type: a few sizes and seeds, made once.
def _files() -> dict[str, list[bytes]]:
    frames = [synthetic_applications(rows, seed=seed_) for rows, seed_ in ((1, 1), (7, 2), (40, 3))]
    tabs = [to_original_format(frame).encode("latin-1") for frame in frames]
    csvs = [frame.to_csv(index=False).encode() for frame in frames]
    return {
        "text/tab-separated-values": tabs,
        "text/csv": csvs,
        "application/gzip": [gzip.compress(content, mtime=0) for content in tabs + csvs],
    }


for _media_type, _contents in _files().items():
    schemathesis.openapi.media_type(_media_type, st.sampled_from(_contents))


@pytest.fixture
def api_schema(db, active_version, settings):
    settings.CREDITRISK_SCORE_WAIT_SECONDS = 0  # no worker in this test: creation answers 202
    settings.CREDITRISK_BATCH_QUEUE = "no-worker-listens"  # jobs uploaded here are never run by a worker
    # As Django's own test client does: requests must not close the test's database connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    # The coverage phase (every boundary and enum value of every field: hundreds of cases for an applicant's
    # 53 fields, 20 s) runs in `make fuzz`; the suite runs the explicit examples and the bounded generated ones.
    loaded.config.phases.coverage.enabled = bool(FUZZ_SECONDS)
    yield loaded
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


def test_the_schema_describes_every_api_operation(api_schema):
    described = {f"{result.ok().method.upper()} {result.ok().path}" for result in api_schema.get_all_operations()}
    assert described == OPERATIONS


@functools.cache
def _portfolio() -> bytes:
    return to_original_format(synthetic_applications(30, seed=5, with_label=False)).encode("latin-1")


def _own_job(user, name: str) -> BatchJob:
    return batch_job_create(
        content=[_portfolio()], original_name=name, uploaded_by=user, channel=BatchJob.Channel.API, dispatch=False
    )


def _own_objects(user) -> dict[str, str]:
    """Path parameter -> the id of an object of the client's own, made once per test (``cancel``: a
    queued job, the target of the cancel operation)."""
    version = ModelVersion.objects.get(is_active=True)
    own = ScoreRequest.objects.filter(requested_by=user, status="done").first()
    if own is None:
        own = final_score_requests(version, 1, user=user)[0]
    done = BatchJob.objects.filter(uploaded_by=user, original_name="done.txt").first()
    if done is None:
        done = batch_job_run_inline(job=_own_job(user, "done.txt"))
    # Never run: the first schema-valid cancel cancels it (200), later ones are 409.
    queued = BatchJob.objects.filter(uploaded_by=user, original_name="queued.txt").first() or _own_job(
        user, "queued.txt"
    )
    run = SimulationRun.objects.filter(requested_by=user, status="done").first()
    if run is None:
        labelled = to_original_format(synthetic_applications(60, seed=6)).encode("latin-1")
        run = simulation_run_create(
            requested_by=user,
            economics=Economics(),
            model_version=version,
            upload=labelled,
            upload_name="labelled.txt",
            bootstrap_samples=100,
            dispatch=False,
        )
        run = simulation_run_execute(run_id=run.id)
    upload = OutcomeUpload.objects.filter(uploaded_by=user).first() or outcome_upload_create(
        content=[f"decision_id,bad\n{own.id},1\n".encode()],
        original_name="outcomes.csv",
        uploaded_by=user,
        channel=OutcomeUpload.Channel.API,
    )
    assert done.status == "done" and run.status == "done", (done.error, run.error)
    return {
        "request_id": str(own.id),
        "job_id": str(done.id),
        "run_id": str(run.id),
        "cancel": str(queued.id),
        "upload_id": str(upload.id),
        "version": version.version,
    }


def _schema_client() -> tuple[dict[str, str], dict[str, str]]:
    """The client's Authorization header and the ids of its own objects."""
    user, _ = UserFactory._meta.model.objects.get_or_create(username="schema-client")
    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}, _own_objects(user)


@schema.parametrize()
@_limits(6)
def test_api_conforms_to_its_schema(case, db):
    headers, own = _schema_client()
    case.call_and_validate(headers=headers)
    mine = {name: own[name] for name in (case.path_parameters or {}) if name in own}
    if case.path.endswith("/cancel/"):
        mine["job_id"] = own["cancel"]
    if mine and case.meta.generation.mode.is_positive:
        case.path_parameters = {**case.path_parameters, **mine}
        case.call_and_validate(headers=headers)


def test_api_sequences_conform_to_its_schema(api_schema):
    """Sequences of calls over every operation (schemathesis's state machine), every response checked.
    Fuzzing: rounds of random sequences, each with its own seed, until the time is up."""
    headers, _ = _schema_client()

    class Client(api_schema.as_state_machine()):  # type: ignore[misc]  # a class schemathesis builds at run time
        # Each sequence starts from the same database: what one sequence made (a cancelled job, a new
        # request) would otherwise change which calls the next can make, and hypothesis refuses a test
        # whose generation depends on outside state (FlakyStrategyDefinition, met by `make fuzz`).
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # The token is ours on every call, so "generated auth accepted" would flag it: test_security covers auth.
            case.validate_response(response, excluded_checks=[ignored_auth], transport_kwargs=kwargs or None)

    limits = _limits(8, stateful_step_count=6)
    if not FUZZ_SECONDS:
        Client.run(settings=limits)
        return
    round_ = 0
    while round_ == 0 or time.monotonic() < FUZZ_DEADLINE:
        round_seed = FUZZ_SEED + round_
        print(f"fuzz: stateful round {round_}, seed {round_seed} (replay: make fuzz FUZZ_SEED={round_seed})")
        seed(round_seed)(Client).run(settings=limits)
        round_ += 1
