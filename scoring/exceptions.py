"""The API's exception handler: Redis unreachable is 503 with Retry-After, not a 500 traceback.

Two parts of a request need Redis before any view code runs or after it: the per-user throttle
counts requests in the cache (``CACHE_URL``, the same Redis server as the broker in the Compose
file), and a new request or job is published to the broker. When Redis is down or paused, either
raises a connection error; the client is told the service is unavailable for a moment, in the
API's usual error body, and can send the same request again.
"""

from __future__ import annotations

from typing import Any

from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from scoring.queues import QueueUnavailableError
from scoring.services.outcomes import OutcomesBusyError

RETRY_AFTER_SECONDS = QueueUnavailableError.retry_after_seconds


def unavailable(detail: str) -> Response:
    return Response(
        {"detail": detail},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, QueueUnavailableError | OutcomesBusyError):
        return unavailable(str(exc))
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OperationalError):
        return unavailable(
            f"the service is unavailable ({type(exc).__name__}: {exc}); nothing was stored, "
            f"try again in {RETRY_AFTER_SECONDS} seconds"
        )
    return exception_handler(exc, context)
