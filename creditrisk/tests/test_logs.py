"""Logs: one line per event on stdout, with the request id (X-Request-ID) and, in a task, the task id."""

from __future__ import annotations

import io
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterator

import pytest

from creditrisk.logs import OneLineFormatter, TaskContext
from scoring.tasks import score_request_process_task

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def stdout_lines() -> Iterator[Callable[[], list[str]]]:
    """What the configured stdout handler (settings.LOGGING: filters, formatter) writes, line by line."""
    [handler] = [h for h in logging.getLogger().handlers if h.get_name() == "stdout"]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: buffer.getvalue().splitlines()
    finally:
        handler.setStream(previous)


@pytest.mark.django_db
def test_an_incoming_request_id_is_echoed(client):
    request_id = str(uuid.uuid4())
    assert client.get("/healthz", HTTP_X_REQUEST_ID=request_id)["X-Request-ID"] == request_id


@pytest.mark.django_db
def test_without_one_a_request_id_is_generated_for_each_request(client):
    first, second = (client.get("/healthz")["X-Request-ID"] for _ in range(2))
    assert HEX_ID.match(first) and HEX_ID.match(second) and first != second


@pytest.mark.django_db
@pytest.mark.parametrize("forged", ["abc", "x" * 500, "1\nFAKE LOG LINE"])
def test_a_request_id_that_is_not_a_uuid_is_replaced(client, forged):
    answered = client.get("/healthz", HTTP_X_REQUEST_ID=forged)["X-Request-ID"]
    assert answered != forged and HEX_ID.match(answered)


@pytest.mark.django_db
def test_every_log_line_of_a_request_carries_its_id(client, stdout_lines):
    request_id = uuid.uuid4().hex
    client.get("/api/v1/models/", HTTP_X_REQUEST_ID=request_id)  # 401: an access line and django's warning
    lines = [line for line in stdout_lines() if f"request_id={request_id}" in line]
    assert any("creditrisk.access" in line and "GET /api/v1/models/ 401" in line for line in lines), lines
    assert any("django.request" in line and "Unauthorized" in line for line in lines), lines


@pytest.mark.django_db
def test_log_lines_inside_a_task_carry_the_task_id(stdout_lines):
    result = score_request_process_task.apply(args=("00000000-0000-0000-0000-000000000002",))
    lines = [line for line in stdout_lines() if "does not exist; message dropped" in line]
    assert len(lines) == 1 and f"task_id={result.id}" in lines[0]


def test_outside_a_task_the_task_id_is_a_dash():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    TaskContext().filter(record)
    assert vars(record)["task_id"] == "-" and vars(record)["task_name"] == "-"  # attributes the filter adds


def test_a_traceback_stays_on_its_event_line():
    formatter = OneLineFormatter("%(levelname)s request_id=%(correlation_id)s %(message)s")
    try:
        raise ValueError("bad\nrow")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "scoring failed", None, sys.exc_info())
    line = formatter.format(record)
    assert "\n" not in line and line.startswith("ERROR request_id=- scoring failed")
    assert "Traceback" in line and "ValueError: bad\\nrow" in line
