"""What the back-office dashboard shows: decisions per day, the approval rate, the score histogram
and the queues. Reads the database (one aggregate statement for the histogram) and the broker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from ml.scorecard import APPROVE
from scoring.model_registry import points_scale
from scoring.models import ScoreRequest
from scoring.queues import queue_depths
from scoring.selectors import model_version_get_active


def score_histogram(*, scores: QuerySet[ScoreRequest], bins: int = 12) -> list[dict[str, Any]]:
    """Counts of ``scores`` in ``bins`` equal whole-point bins spanning the lowest to the highest score
    given, so the bars follow the scores the model actually gives (a few dozen points of a 300-850
    scale). One statement: the bounds and every bin's count are computed by PostgreSQL together."""
    sql, params = scores.filter(score__isnull=False).order_by().values("score").query.sql_with_params()
    statement = f"""
        WITH given AS ({sql}),
             bounds AS (SELECT MIN(score) AS low, GREATEST(CEIL((MAX(score) - MIN(score) + 1) / %s::numeric), 1)::int
                        AS width FROM given)
        SELECT low, width, (score - low) / width AS bin, COUNT(*) FROM given, bounds
        GROUP BY low, width, bin ORDER BY bin"""  # noqa: S608 - the inner query is the ORM's, with its parameters
    with connection.cursor() as cursor:
        cursor.execute(statement, (*params, bins))
        rows = cursor.fetchall()
    if not rows:
        return []
    low, width = rows[0][0], rows[0][1]
    counts = {bin_: count for _, _, bin_, count in rows}
    return [
        {"low": low + i * width, "high": low + (i + 1) * width - 1, "count": counts.get(i, 0)}
        for i in range(max(counts) + 1)
    ]


def dashboard_figures(*, days: int = 30) -> dict[str, Any]:
    """Requests per day, approval rate, score histogram and queue depth for the admin dashboard."""
    since = timezone.now() - timedelta(days=days)
    done = ScoreRequest.objects.filter(status=ScoreRequest.Status.DONE, created_at__gte=since)
    days_counted = (
        done.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Count("id"), approved=Count("id", filter=Q(decision=APPROVE)))
        .order_by("day")
    )
    # Plain dicts: each day's bar width and approval rate are added below.
    per_day: list[dict[str, Any]] = [dict(row) for row in days_counted]
    total = sum(row["total"] for row in per_day)
    approved = sum(row["approved"] for row in per_day)
    histogram = score_histogram(scores=done)
    peak_day = max((row["total"] for row in per_day), default=0)
    peak_bucket = max((b["count"] for b in histogram), default=0)
    for row in per_day:
        row["width"] = round(100 * row["total"] / peak_day) if peak_day else 0
        row["rate"] = row["approved"] / row["total"] if row["total"] else 0
    active = model_version_get_active()
    cut_off = round(float(points_scale().points(active.threshold))) if active else None
    for bucket in histogram:
        bucket["height"] = round(100 * bucket["count"] / peak_bucket) if peak_bucket else 0
        bucket["declined"] = cut_off is not None and bucket["high"] < cut_off
    return {
        "days": days,
        "per_day": per_day,
        "total": total,
        "approval_rate": approved / total if total else None,
        "histogram": histogram,
        "cut_off_points": cut_off,
        "queues": queue_depths(),
        "failed": ScoreRequest.objects.filter(status=ScoreRequest.Status.FAILED, created_at__gte=since).count(),
        "waiting": ScoreRequest.objects.filter(
            status__in=[ScoreRequest.Status.QUEUED, ScoreRequest.Status.RUNNING]
        ).count(),
        "active_model": active,
    }
