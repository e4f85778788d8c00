from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from ml import schema
from ml.registry import artifact_signature, load_artifact
from ml.scorecard import PointsScale
from scoring.models import BatchJob, BatchResult, BatchRowError, ModelVersion, ScoreRequest

# (artifact path, sha256) -> (the file's signature when it was checked, fitted pipeline)
_loaded: dict[tuple[str, str], tuple[tuple[int, int, int], Any]] = {}
_lock = threading.Lock()


def model_version_get_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def model_version_get(*, version: str) -> ModelVersion:
    return ModelVersion.objects.get(version=version)


def model_version_load(*, model_version: ModelVersion) -> Any:
    """The fitted pipeline, loaded once per process and only after its sha256 matched.

    Every call also looks at the file: deleted, or changed since it was checked (the sha256 is then
    checked again), it is refused with ArtifactIntegrityError, so no worker keeps deciding with a
    model whose artifact no longer matches the registry.
    """
    path = settings.CREDITRISK_MODEL_DIR / model_version.artifact_path
    key = (str(path), model_version.artifact_sha256)
    with _lock:
        signature = artifact_signature(path)
        cached = _loaded.get(key)
        if cached is None or cached[0] != signature:
            _loaded.pop(key, None)
            _loaded[key] = (signature, load_artifact(path, model_version.artifact_sha256))
        return _loaded[key][1]


def points_scale() -> PointsScale:
    return PointsScale(
        base_points=settings.CREDITRISK_SCORE_BASE_POINTS,
        base_odds=settings.CREDITRISK_SCORE_BASE_ODDS,
        pdo=settings.CREDITRISK_SCORE_PDO,
        minimum=settings.CREDITRISK_SCORE_MIN,
        maximum=settings.CREDITRISK_SCORE_MAX,
    )


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.all()


def score_request_list(*, user: Any, decision: str | None = None, model_version: str | None = None,
                       status: str | None = None, created_after: datetime | None = None,
                       created_before: datetime | None = None) -> QuerySet[ScoreRequest]:  # fmt: skip
    """Requests ``user`` may see: their own, or every one for staff."""
    queryset = ScoreRequest.objects.select_related("model_version", "applicant")
    if not user.is_staff:
        queryset = queryset.filter(requested_by=user)
    filters = {"decision": decision, "model_version__version": model_version, "status": status,
               "created_at__gte": created_after, "created_at__lt": created_before}  # fmt: skip
    return queryset.filter(**{key: value for key, value in filters.items() if value is not None})


def score_request_get_final(*, score_request_id: Any) -> ScoreRequest | None:
    return (ScoreRequest.objects.select_related("model_version", "applicant")
            .filter(pk=score_request_id, status__in=ScoreRequest.FINAL_STATUSES).first())  # fmt: skip


def queue_depths() -> dict[str, int | None]:
    """Messages waiting per queue (None where the broker cannot tell)."""
    from creditrisk.celery import app

    depths: dict[str, int | None] = {}
    try:
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            for queue in ("scoring", "batch"):
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except Exception:  # noqa: BLE001 - a queue not declared yet, or a transport without counts
                    depths[queue] = None
    except Exception:  # noqa: BLE001 - broker down: the dashboard still renders
        depths = {"scoring": None, "batch": None}
    return depths


def dashboard_figures(*, days: int = 30) -> dict[str, Any]:
    """Requests per day, approval rate, score histogram and queue depth for the admin dashboard."""
    since = timezone.now() - timedelta(days=days)
    done = ScoreRequest.objects.filter(status=ScoreRequest.Status.DONE, created_at__gte=since)
    per_day = list(done.annotate(day=TruncDate("created_at")).values("day")
                   .annotate(total=Count("id"), approved=Count("id", filter=Q(decision="approve")))
                   .order_by("day"))  # fmt: skip
    total = sum(row["total"] for row in per_day)
    approved = sum(row["approved"] for row in per_day)
    buckets = list(range(300, 851, 50))
    histogram = [{"low": low, "high": low + 50,
                  "count": done.filter(score__gte=low, score__lt=low + 50 if low < 800 else 851).count()}
                 for low in buckets[:-1]]  # fmt: skip
    peak_day = max((row["total"] for row in per_day), default=0)
    peak_bucket = max((b["count"] for b in histogram), default=0)
    for row in per_day:
        row["width"] = round(100 * row["total"] / peak_day) if peak_day else 0
        row["rate"] = row["approved"] / row["total"] if row["total"] else 0
    for bucket in histogram:
        bucket["height"] = round(100 * bucket["count"] / peak_bucket) if peak_bucket else 0
    return {
        "days": days,
        "per_day": per_day,
        "total": total,
        "approval_rate": approved / total if total else None,
        "histogram": histogram,
        "queues": queue_depths(),
        "failed": ScoreRequest.objects.filter(status=ScoreRequest.Status.FAILED, created_at__gte=since).count(),
        "waiting": ScoreRequest.objects.filter(
            status__in=[ScoreRequest.Status.QUEUED, ScoreRequest.Status.RUNNING]
        ).count(),
        "active_model": model_version_get_active(),
    }


def score_request_wait_final(*, score_request_id: Any, timeout: float) -> ScoreRequest | None:
    """Poll the row the worker writes until it is final: the answer lives in the database."""
    deadline, pause = time.monotonic() + timeout, 0.002
    while True:
        final = score_request_get_final(score_request_id=score_request_id)
        if final is not None or time.monotonic() >= deadline:
            return final
        time.sleep(pause)
        pause = min(pause * 1.5, 0.05)


# -- batch jobs --------------------------------------------------------------------------------------


def batch_job_list(*, user: Any, status: str | None = None) -> QuerySet[BatchJob]:
    """Jobs ``user`` may see: their own, or every one for staff."""
    queryset = BatchJob.objects.select_related("model_version", "uploaded_by")
    if not user.is_staff:
        queryset = queryset.filter(uploaded_by=user)
    return queryset.filter(status=status) if status else queryset


def batch_job_progress(*, job: BatchJob, now: datetime | None = None) -> dict[str, Any]:
    """Rows handled of the total, the rate so far and the time left at that rate."""
    handled = job.rows_done + job.rows_failed
    end = job.finished_at or now or timezone.now()
    seconds = (end - job.started_at).total_seconds() if job.started_at else 0.0
    rate = handled / seconds if seconds > 0 and handled else None
    remaining = (job.rows_total - handled) if job.rows_total is not None else None
    eta = remaining / rate if rate and remaining is not None and not job.is_final else None
    return {
        "rows_handled": handled,
        "percent": round(100 * handled / job.rows_total, 1) if job.rows_total else (100.0 if job.is_final else 0.0),
        "rows_per_second": round(rate, 1) if rate else None,
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "elapsed_seconds": round(seconds, 3),
    }


RESULT_CSV_HEADER = (schema.ID_COLUMN, "probability_bad", "score", "decision", "reasons")
ERROR_CSV_HEADER = ("line", "column", "problem")


def batch_result_rows(*, job: BatchJob, chunk_rows: int = 5000) -> Iterator[tuple[Any, ...]]:
    """The job's decisions in file order: ``ID_CLIENT, probability_bad, score, decision, reasons``.

    Reasons are their plain-language texts joined by "; ". Read with a server-side cursor, so a
    million rows stream without being held in memory.
    """
    rows = (BatchResult.objects.filter(job=job).order_by("line")
            .values_list("external_id", "probability_bad", "score", "decision", "reasons")
            .iterator(chunk_size=chunk_rows))  # fmt: skip
    for external_id, probability, score, decision, reasons in rows:
        yield (external_id, f"{probability:.6f}", score, decision, "; ".join(r["text"] for r in reasons))


def batch_error_rows(*, job: BatchJob) -> Iterator[tuple[Any, ...]]:
    return BatchRowError.objects.filter(job=job).order_by("line", "id").values_list(
        "line", "column", "problem"
    ).iterator(chunk_size=5000)


def score_request_decision_counts() -> dict[tuple[str, str], int]:
    """How many decisions of each (decision, channel): the audit records (bulk rows included), counted."""
    rows = (
        ScoreRequest.objects.filter(status=ScoreRequest.Status.DONE)
        .values_list("decision", "channel")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {(decision, channel): n for decision, channel, n in rows}
    for decision, n in BatchResult.objects.values_list("decision").annotate(n=Count("pk")).order_by():
        counts[(decision, ScoreRequest.Channel.BATCH)] = counts.get((decision, ScoreRequest.Channel.BATCH), 0) + n
    return counts
