"""Every operation answers as the OpenAPI schema says, and generated requests never cause a 5xx.

Every operation is called authenticated, as a client that has a scored request of its own: the detail
and replay operations are called with the generated id (a 404 to check) and again, for schema-valid
cases, with the id of that request (a 200 whose body must match the schema too).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import positive_data_acceptance
from schemathesis.specs.openapi.checks import ignored_auth

from creditrisk.wsgi import application
from scoring.models import ModelVersion, ScoreRequest
from scoring.tests.factories import UserFactory, final_score_requests

OPERATIONS = {"GET /api/v1/score-requests/", "POST /api/v1/score-requests/",
              "GET /api/v1/score-requests/{request_id}/", "POST /api/v1/score-requests/{request_id}/replay/",
              "GET /api/v1/models/", "GET /api/v1/batches/", "POST /api/v1/batches/", "GET /api/v1/batches/{job_id}/",
              "POST /api/v1/batches/{job_id}/cancel/", "GET /api/v1/batches/{job_id}/results/",
              "GET /api/v1/batches/{job_id}/errors/", "GET /api/v1/simulations/", "POST /api/v1/simulations/",
              "GET /api/v1/simulations/{run_id}/", "GET /api/v1/simulations/{run_id}/decisions/"}  # fmt: skip


@pytest.fixture
def api_schema(db, active_version, settings):
    settings.CREDITRISK_SCORE_WAIT_SECONDS = 0  # no worker in this test: creation answers 202
    # As Django's own test client does: requests must not close the test's database connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


def test_the_schema_describes_every_api_operation(api_schema):
    described = {f"{result.ok().method.upper()} {result.ok().path}" for result in api_schema.get_all_operations()}
    assert described == OPERATIONS


def _schema_client() -> tuple[dict[str, str], str]:
    """The client's Authorization header and the id of a scored request of its own."""
    user, _ = UserFactory._meta.model.objects.get_or_create(username="schema-client")
    token, _ = Token.objects.get_or_create(user=user)
    own = ScoreRequest.objects.filter(requested_by=user, status="done").first()
    if own is None:
        own = final_score_requests(ModelVersion.objects.get(is_active=True), 1, user=user)[0]
    return {"Authorization": f"Token {token.key}"}, str(own.id)


@schema.parametrize()
# derandomize: the same examples on every run, so CI cannot fail on a lucky draw.
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, db):
    headers, own_request = _schema_client()
    # Any bytes are a schema-valid upload, but only a file of applications is acceptable: the
    # schema cannot say so, so for the upload "valid input accepted" does not apply (the rest does).
    excluded = [positive_data_acceptance] if case.media_type == "multipart/form-data" else []
    case.call_and_validate(headers=headers, excluded_checks=excluded)
    if "request_id" in (case.path_parameters or {}) and case.meta.generation.mode.is_positive:
        case.path_parameters = {**case.path_parameters, "request_id": own_request}
        case.call_and_validate(headers=headers)


def test_api_sequences_conform_to_its_schema(api_schema):
    """Sequences of calls (score, then read or replay what was scored), every response checked."""
    headers, _ = _schema_client()

    class Client(api_schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # The token is ours on every call, so "generated auth accepted" would flag it: test_security covers auth.
            excluded = [ignored_auth]
            if case.media_type == "multipart/form-data":
                excluded.append(positive_data_acceptance)  # any bytes are schema-valid; only applications are valid
            case.validate_response(response, excluded_checks=excluded, transport_kwargs=kwargs or None)

    Client.run(settings=settings(max_examples=30, stateful_step_count=6, deadline=None, derandomize=True,
                                 suppress_health_check=list(HealthCheck)))  # fmt: skip
