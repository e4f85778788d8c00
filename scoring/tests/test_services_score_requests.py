"""score_request_process when its message arrives before the request's transaction commits."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from scoring.models import ScoreRequest
from scoring.services import score_requests
from scoring.services.score_requests import score_request_create, score_request_process
from scoring.tests.conftest import database_session
from scoring.tests.factories import applicant_inputs

pytestmark = pytest.mark.django_db(transaction=True)


def _insert_statements(monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """The id and the exact statements that store one score request, as the web process sends them.

    Captured, then rolled back; the applicant's id sequence is set back so they store the same rows again.
    """
    monkeypatch.setattr(score_requests, "task_publish", lambda *args, **options: None)
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
        # The commit lands right after the worker's first statement about the row, whatever it is.
        update, get = QuerySet.update, QuerySet.get

        def then_commit(call):
            def statement(self, *args, **kwargs):
                try:
                    return call(self, *args, **kwargs)
                finally:
                    if self.model is ScoreRequest and not web.closed:
                        web.commit()

            return statement

        monkeypatch.setattr(QuerySet, "update", then_commit(update))
        monkeypatch.setattr(QuerySet, "get", then_commit(get))
        try:
            handled = score_request_process(score_request_id=request_id)
        except ScoreRequest.DoesNotExist:
            handled = score_request_process(score_request_id=request_id)  # the task's retry, after the commit
    finally:
        web.close()
    assert handled.status == "done" and handled.sequence == 1
    assert ScoreRequest.objects.get(pk=request_id).status == "done"
