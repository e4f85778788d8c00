"""The single-score task's wait for a row whose transaction has not committed yet."""

from __future__ import annotations

import pytest

from scoring import tasks
from scoring.models import ScoreRequest


class _Retried(Exception):
    pass


@pytest.fixture
def retries(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Each retry through the broker the task asks for, instead of sending it."""
    asked: list[dict] = []

    def retry(**options):
        asked.append(options)
        return _Retried()

    monkeypatch.setattr(tasks.score_request_process_task, "retry", retry)
    return asked


def _visible_after(monkeypatch: pytest.MonkeyPatch, reads: int) -> list[str]:
    """The service as it behaves while the row is not committed: DoesNotExist ``reads`` times, then done."""
    calls: list[str] = []

    def process(*, score_request_id: str, worker: str = "") -> None:
        calls.append(score_request_id)
        if len(calls) <= reads:
            raise ScoreRequest.DoesNotExist

    monkeypatch.setattr(tasks, "score_request_process", process)
    return calls


def test_a_row_committed_a_moment_later_is_scored_without_a_retry_through_the_broker(monkeypatch, retries):
    calls = _visible_after(monkeypatch, reads=3)
    tasks.score_request_process_task.apply(args=("a-request",))
    assert len(calls) == 4 and retries == []


def test_a_row_still_missing_after_the_short_wait_is_retried_through_the_broker(monkeypatch, retries):
    calls = _visible_after(monkeypatch, reads=100)
    result = tasks.score_request_process_task.apply(args=("a-request",))
    assert isinstance(result.result, _Retried)
    assert len(calls) == len(tasks.UNCOMMITTED_ROW_PAUSES) + 1
    assert retries == [{"countdown": tasks.UNCOMMITTED_ROW_COUNTDOWNS[0], "max_retries": 6}]
