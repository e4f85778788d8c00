from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from ml import schema
from ml.scorecard import APPROVE, DECLINE
from scoring.models import (
    BatchChunk,
    BatchJob,
    BatchResult,
    BatchRowError,
    DriftReport,
    ModelVersion,
    OutcomeListedRow,
    OutcomeUpload,
    ScoreRequest,
    ShadowScore,
    WorkerHeartbeat,
)

# What the answer to a score request reads: its own fields (the external id is in its inputs), and the
# version's name and inputs. No join with the applicant: on tables that grew since their statistics
# were taken the planner scanned every applicant for it (15 ms of PostgreSQL's CPU a request).
FINAL_ANSWER_FIELDS = (
    "id",
    "status",
    "channel",
    "probability_bad",
    "score",
    "decision",
    "reasons",
    "threshold",
    "error",
    "created_at",
    "finished_at",
    "input_snapshot",
    "requested_by",
    "model_version__version",
    "model_version__features",
)


def model_version_get_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def model_version_get(*, version: str) -> ModelVersion:
    return ModelVersion.objects.get(version=version)


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.all()


def score_request_list(
    *,
    user: Any,
    decision: str | None = None,
    model_version: str | None = None,
    status: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[ScoreRequest]:
    """Requests ``user`` may see: their own, or every one for staff."""
    queryset = ScoreRequest.objects.select_related("model_version", "applicant")
    if not user.is_staff:
        queryset = queryset.filter(requested_by=user)
    filters = {
        "decision": decision,
        "model_version__version": model_version,
        "status": status,
        "created_at__gte": created_after,
        "created_at__lt": created_before,
    }
    return queryset.filter(**{key: value for key, value in filters.items() if value is not None})


def score_requests_received_since(*, since: datetime) -> bool:
    """A single score was requested at or after ``since`` (one index probe on ``created_at``)."""
    return ScoreRequest.objects.filter(created_at__gte=since).exists()


def score_requests_get_final(*, score_request_ids: Collection[Any]) -> dict[Any, ScoreRequest]:
    """Those of the requests that are final (done or failed), by id, in one query."""
    final = (
        ScoreRequest.objects.select_related("model_version")
        .only(*FINAL_ANSWER_FIELDS)
        .filter(pk__in=score_request_ids, status__in=ScoreRequest.FINAL_STATUSES)
        .order_by()
    )
    return {request.pk: request for request in final}


# -- batch jobs --------------------------------------------------------------------------------------


def batch_job_list(*, user: Any, status: str | None = None) -> QuerySet[BatchJob]:
    """Jobs ``user`` may see: their own, or every one for staff."""
    queryset = BatchJob.objects.select_related("model_version", "uploaded_by")
    if not user.is_staff:
        queryset = queryset.filter(uploaded_by=user)
    return queryset.filter(status=status) if status else queryset


def batch_job_progress(*, job: BatchJob, now: datetime | None = None) -> dict[str, Any]:
    """Rows handled of the total, the rate so far and the time left at that rate.

    Rows handled are those of the chunks stored plus, while the job runs, those the chunks under
    way have scored so far (``BatchChunk.rows_scored``), so progress moves within a chunk too.
    """
    in_flight = 0
    if job.status == BatchJob.Status.RUNNING:
        running = job.chunks.filter(status=BatchChunk.Status.QUEUED).aggregate(rows=Sum("rows_scored"))
        in_flight = running["rows"] or 0
    handled = job.rows_done + job.rows_failed + in_flight
    end = job.finished_at or now or timezone.now()
    seconds = (end - job.started_at).total_seconds() if job.started_at else 0.0
    rate = handled / seconds if seconds > 0 and handled else None
    remaining = (job.rows_total - handled) if job.rows_total is not None else None
    eta = remaining / rate if rate and remaining is not None and not job.is_final else None
    return {
        "rows_handled": handled,
        "rows_in_progress": in_flight,
        "percent": round(100 * handled / job.rows_total, 1) if job.rows_total else (100.0 if job.is_final else 0.0),
        "rows_per_second": round(rate, 1) if rate else None,
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "elapsed_seconds": round(seconds, 3),
    }


def batch_decision_counts(*, job: BatchJob) -> dict[str, int]:
    """Rows approved and declined so far (the rows stored: whole chunks)."""
    counts = dict(BatchResult.objects.filter(job=job).values_list("decision").order_by().annotate(n=Count("id")))
    return {APPROVE: counts.get(APPROVE, 0), DECLINE: counts.get(DECLINE, 0)}


def batch_result_table(*, job: BatchJob, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` decisions in file order, each with its first reason's text ("" if none)."""
    rows = (
        BatchResult.objects.filter(job=job)
        .order_by("line")
        .values_list("line", "external_id", "score", "probability_bad", "decision", "reasons")[:limit]
    )
    return [
        {
            "line": line,
            "external_id": external_id,
            "score": score,
            "probability_bad": probability,
            "decision": decision,
            "first_reason": reasons[0]["text"] if reasons else "",
        }
        for line, external_id, score, probability, decision, reasons in rows
    ]


RESULT_CSV_HEADER = (schema.ID_COLUMN, "probability_bad", "score", "decision", "reasons")
ERROR_CSV_HEADER = ("line", "column", "problem")


def batch_result_rows(*, job: BatchJob, chunk_rows: int = 5000) -> Iterator[tuple[Any, ...]]:
    """The job's decisions in file order: ``ID_CLIENT, probability_bad, score, decision, reasons``.

    Reasons are their plain-language texts joined by "; ". Read with a server-side cursor, so a
    million rows stream without being held in memory.
    """
    rows = (
        BatchResult.objects.filter(job=job)
        .order_by("line")
        .values_list("external_id", "probability_bad", "score", "decision", "reasons")
        .iterator(chunk_size=chunk_rows)
    )
    for external_id, probability, score, decision, reasons in rows:
        yield (external_id, f"{probability:.6f}", score, decision, "; ".join(r["text"] for r in reasons))


def batch_error_rows(*, job: BatchJob) -> Iterator[tuple[Any, ...]]:
    return (
        BatchRowError.objects.filter(job=job)
        .order_by("line", "id")
        .values_list("line", "column", "problem")
        .iterator(chunk_size=5000)
    )


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


def drift_report_latest(*, source: str = DriftReport.Source.WINDOW) -> DriftReport | None:
    """The newest stored stability report of ``source`` (by default the periodic one of live decisions)."""
    return DriftReport.objects.filter(source=source).select_related("model_version").first()


def worker_seen_since(*, since: datetime, node: str = "") -> bool:
    """A Celery worker (the one named ``node``, when given) has written its heartbeat at or after ``since``
    (it is consuming). A heartbeat names the worker's Celery node name and an id of its start."""
    heartbeats = WorkerHeartbeat.objects.filter(last_seen__gte=since)
    if node:
        heartbeats = heartbeats.filter(hostname__startswith=f"{node} ")
    return heartbeats.exists()


# -- outcome uploads ---------------------------------------------------------------------------------


def outcome_upload_list(*, user: Any) -> QuerySet[OutcomeUpload]:
    """Uploads ``user`` may see: those they sent and those matched with their decisions alone; staff, all."""
    queryset = OutcomeUpload.objects.select_related("uploaded_by", "decisions_of")
    if not user.is_staff:
        queryset = queryset.filter(Q(uploaded_by=user) | Q(decisions_of=user))
    return queryset


LISTED_CSV_HEADER = ("line", "reference", "kind", "problem")


def outcome_listed_rows(*, upload: OutcomeUpload, limit: int | None = None) -> Iterator[tuple[Any, ...]]:
    """The upload's listed rows in line order: ``line, reference, kind, problem``."""
    rows = OutcomeListedRow.objects.filter(upload=upload).order_by("line", "id").values_list(*LISTED_CSV_HEADER)
    return iter(rows[:limit]) if limit is not None else rows.iterator(chunk_size=5000)


def shadow_score_list(
    *,
    user: Any,
    challenger: str | None = None,
    score_request: Any = None,
    batch: Any = None,
    kind: str | None = None,
    agreement: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[ShadowScore]:
    """Shadow scores ``user`` may see: those of their own decisions (single requests they sent, bulk jobs
    they uploaded), or every one for staff. ``kind``: "single" or "bulk"; ``agreement``: "agree",
    "disagree" (both scored, decisions differ) or "failed" (the challenger could not score)."""
    queryset = ShadowScore.objects.select_related("challenger", "champion")
    if not user.is_staff:
        queryset = queryset.filter(Q(score_request__requested_by=user) | Q(job__uploaded_by=user))
    filters = {
        "challenger__version": challenger,
        "score_request_id": score_request,
        "job_id": batch,
        "created_at__gte": created_after,
        "created_at__lt": created_before,
    }
    queryset = queryset.filter(**{key: value for key, value in filters.items() if value is not None})
    if kind is not None:
        queryset = queryset.filter(score_request__isnull=kind != "single")
    if agreement == "agree":
        queryset = queryset.filter(error="", decision=F("champion_decision"))
    elif agreement == "disagree":
        queryset = queryset.filter(error="").exclude(decision=F("champion_decision"))
    elif agreement == "failed":
        queryset = queryset.exclude(error="")
    return queryset
