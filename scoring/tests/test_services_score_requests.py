"""score_request_process: when its message arrives before the request's transaction commits, and
how many statements it sends."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from scoring.models import AuditChainHead, ScoreRequest
from scoring.services import score_requests
from scoring.services.audit_verification import audit_verify
from scoring.services.score_requests import score_request_create, score_request_process
from scoring.tests.conftest import database_session
from scoring.tests.factories import applicant_inputs

pytestmark = pytest.mark.django_db(transaction=True)


def _insert_statements(monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """The id and the exact statements that store one score request, as the web process sends them.

    Captured, then rolled back; the applicant's id sequence is set back so they store the same rows again.
    """
    monkeypatch.setattr(score_requests.queues, "send", lambda *args, **options: None)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        request = score_request_create(inputs=applicant_inputs(seed=5)[0], requested_by=None, channel="api")
        transaction.set_rollback(True)
    rewind = f"SELECT setval(pg_get_serial_sequence('scoring_applicant', 'id'), {request.applicant_id}, false)"
    return str(request.pk), [rewind, *(q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT"))]


def test_a_request_committed_while_its_message_is_handled_is_scored_not_dropped(active_version, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs a second PostgreSQL session")  # CI runs on PostgreSQL
    request_id, inserts = _insert_statements(monkeypatch)
    web = database_session()
    try:
        with web.cursor() as cursor:  # the web process: rows stored, transaction not yet committed
            for sql in inserts:
                cursor.execute(sql)

        def then_commit(execute, sql, params, many, context):
            """The commit lands right after the worker's first statement about the row, whatever it is."""
            try:
                return execute(sql, params, many, context)
            finally:
                if "scoring_scorerequest" in sql and not web.closed:
                    web.commit()

        with connection.execute_wrapper(then_commit):
            try:
                handled = score_request_process(score_request_id=request_id)
            except ScoreRequest.DoesNotExist:
                handled = score_request_process(score_request_id=request_id)  # the task's retry, after the commit
    finally:
        web.close()
    assert handled.status == "done" and handled.sequence == 1
    assert ScoreRequest.objects.get(pk=request_id).status == "done"


def _statement_kinds(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"].split()[0] for query in queries.captured_queries]


def test_scoring_a_request_takes_nine_statements(active_version, monkeypatch):
    """The worker's whole part, pinned: the claim, the active model (its id and threshold: the rest of
    a version is read once per process), one transaction that commits without waiting for the disk,
    locks the chain head and writes the decision and the head, and, once that is committed, whether a
    challenger is to score it in shadow (there is none here). More statements is a regression."""
    if connection.vendor != "postgresql":
        pytest.skip("the statements pinned are PostgreSQL's")  # CI runs on PostgreSQL
    monkeypatch.setattr(score_requests.queues, "send", lambda *args, **options: None)
    AuditChainHead.objects.create(id=1)  # the chain has begun (its first link also creates the head)
    first, created = (
        score_request_create(inputs=inputs, requested_by=None, channel="api")
        for inputs in applicant_inputs(seed=6, n=2)
    )
    score_request_process(score_request_id=str(first.pk))  # the process has read the version and its scorer
    with CaptureQueriesContext(connection) as queries:
        done = score_request_process(score_request_id=str(created.pk))
    assert done.status == "done" and done.sequence == 2
    kinds = ["WITH", "SELECT", "BEGIN", "SET", "SELECT", "UPDATE", "UPDATE", "COMMIT", "SELECT"]
    assert _statement_kinds(queries) == kinds
    claim, model, _, asynchronous, head = (query["sql"] for query in queries.captured_queries[:5])
    assert asynchronous == "SET LOCAL synchronous_commit TO OFF"
    assert "UPDATE" in claim and "RETURNING" in claim and "scoring_modelversion" in model and "FOR UPDATE" in head
    assert model.startswith("SELECT id, threshold") and "is_active" in model
    assert "is_challenger" in queries.captured_queries[-1]["sql"]
    assert audit_verify() == (2, [])


def test_a_second_delivery_of_a_decided_request_takes_two_statements_and_changes_nothing(active_version, monkeypatch):
    monkeypatch.setattr(score_requests.queues, "send", lambda *args, **options: None)
    created = score_request_create(inputs=applicant_inputs(seed=7)[0], requested_by=None, channel="api")
    first = score_request_process(score_request_id=str(created.pk))
    with CaptureQueriesContext(connection) as queries:
        again = score_request_process(score_request_id=str(created.pk))
    assert _statement_kinds(queries) == ["WITH", "SELECT"]  # the claim takes nothing; one read says why
    assert (again.status, again.sequence, again.record_hash) == ("done", 1, first.record_hash)
    assert ScoreRequest.objects.get(pk=created.pk).attempts == 1
    assert audit_verify() == (1, [])


def test_an_area_code_is_not_missing_for_a_phone_the_applicant_does_not_have(active_version):
    from scoring.services.score_requests import missing_inputs

    inputs = {"FLAG_RESIDENCIAL_PHONE": "N", "FLAG_PROFESSIONAL_PHONE": "Y"}
    missing = missing_inputs(inputs=inputs, model_version=None)
    assert "RESIDENCIAL_PHONE_AREA_CODE" not in missing and "PROFESSIONAL_PHONE_AREA_CODE" in missing
    assert "MONTHS_IN_RESIDENCE" in missing and "FLAG_RESIDENCIAL_PHONE" not in missing


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_a_request_answered_at_once_is_the_one_write_that_waits_for_the_disk(active_version, monkeypatch):
    """The claim, the row of a request whose caller waits for the decision, and the decision commit
    asynchronously (the caller is answered after a flush: test_services_waiting.py); a request
    answered at once commits synchronously (the session's setting)."""
    if connection.vendor != "postgresql":
        pytest.skip("asynchronous commit is PostgreSQL's")  # CI runs on PostgreSQL
    monkeypatch.setattr(score_requests.queues, "send", lambda *args, **options: None)
    inputs = applicant_inputs(seed=8, n=2)
    with CaptureQueriesContext(connection) as waited:
        request = score_request_create(inputs=inputs[0], requested_by=None, channel="api", listen=True)
    with CaptureQueriesContext(connection) as at_once:
        score_request_create(inputs=inputs[1], requested_by=None, channel="api", listen=False)
    assert "SET LOCAL synchronous_commit TO OFF" in [q["sql"] for q in waited.captured_queries]
    assert not any("synchronous_commit" in q["sql"] for q in at_once.captured_queries)
    with CaptureQueriesContext(connection) as worker:
        done = score_request_process(score_request_id=str(request.pk))
    claim, *rest = (q["sql"] for q in worker.captured_queries)
    assert "set_config('synchronous_commit', 'off', true)" in claim and done.status == "done"
    # The decision's transaction: the head is not held through a disk flush.
    assert rest[rest.index("BEGIN") + 1] == "SET LOCAL synchronous_commit TO OFF"
    assert _synchronous_commit() == "on"  # local to those transactions: the session's setting is untouched
