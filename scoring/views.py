"""Plain Django views: the health check, the sign-in page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from creditrisk.celery import app as celery_app
from scoring.models import WorkerHeartbeat
from scoring.selectors import model_version_get_active


def _database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"database unreachable: {exc}"
    return None


def _broker() -> str | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the answer
        return f"broker unreachable: {exc}"
    return None


def _worker() -> str | None:
    since = timezone.now() - timedelta(seconds=3 * settings.CREDITRISK_HEARTBEAT_SECONDS)
    if not WorkerHeartbeat.objects.filter(last_seen__gte=since).exists():
        return f"no live worker (no heartbeat in the last {3 * settings.CREDITRISK_HEARTBEAT_SECONDS} s)"
    return None


def _model() -> str | None:
    return None if model_version_get_active() else "no active model: run `python manage.py train`"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker, a worker and an active model are all there; else 503."""
    checks = {"database": _database()}
    if checks["database"] is None:
        checks.update(worker=_worker(), model=_model())
    checks["broker"] = _broker()
    missing = {name: problem for name, problem in checks.items() if problem}
    body = {"status": "ok" if not missing else "unavailable", "checks": {k: v or "ok" for k, v in checks.items()}}
    return JsonResponse(body, status=503 if missing else 200)


class LoginView(auth_views.LoginView):
    """Django's sign-in page; on a development server (DEBUG) it says where the demo user is printed."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "show_demo_hint": settings.DEBUG}
