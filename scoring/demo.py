"""The demo page: score one applicant from a form, or a file of applicants as a bulk job.

It goes through the same serializer and services as the API, with channel ``ui``. The form speaks
the data dictionary's words (``ml/dictionary.py``); a file, small or large, is scored by the bulk
workers and its page lists a small file's decisions as one table.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from ml import schema
from ml.dictionary import code_label, field_words
from ml.file_formats import DataFormatError
from scoring.gauge import gauge_drawing, gauge_for
from scoring.models import BatchJob, ModelVersion, ScoreRequest
from scoring.queues import QueueUnavailableError
from scoring.selectors import (
    batch_decision_counts,
    batch_job_list,
    batch_job_progress,
    batch_result_table,
    model_version_get_active,
)
from scoring.serializers import ApplicantInputSerializer
from scoring.services.batch_files import UploadTooLargeError
from scoring.services.batch_jobs import batch_job_create
from scoring.services.score_requests import missing_inputs, score_request_create
from scoring.services.waiting import final_unlisten, score_requests_wait_final

KEY_FIELDS = (
    "AGE",
    "PERSONAL_MONTHLY_INCOME",
    "PAYMENT_DAY",
    "RESIDENCIAL_STATE",
    "MONTHS_IN_RESIDENCE",
    "OCCUPATION_TYPE",
    "PROFESSION_CODE",
    "FLAG_RESIDENCIAL_PHONE",
    "FLAG_PROFESSIONAL_PHONE",
    "COMPANY",
    "RESIDENCE_TYPE",
    "QUANT_DEPENDANTS",
    "APPLICATION_SUBMISSION_TYPE",
    "PRODUCT",
)
MAX_UPLOAD_BYTES = 1_000_000
TABLE_ROWS = 200  # a job of up to this many rows lists its decisions on its page; any job has the CSV
FALLBACK_DEFAULTS = {
    "AGE": 35,
    "PERSONAL_MONTHLY_INCOME": 800,
    "PAYMENT_DAY": "10",
    "RESIDENCIAL_STATE": "SP",
    "APPLICATION_SUBMISSION_TYPE": "Web",
    "PRODUCT": "1",
}


def _defaults() -> dict[str, Any]:
    active = model_version_get_active()
    reference = dict(active.reference_applicant) if active else {}
    values = {**FALLBACK_DEFAULTS, **{k: v for k, v in reference.items() if v is not None}}
    for name in ("AGE", "PAYMENT_DAY"):  # required fields always get a value
        values.setdefault(name, FALLBACK_DEFAULTS[name])
    return values


def _fields(
    values: dict[str, Any], errors: dict[str, Any], used: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The form's fields in the data dictionary's words: the key ones, the others the model uses,
    and those it does not use (shown last, marked so)."""
    words = field_words()

    def describe(column: schema.Column) -> dict[str, Any]:
        value = values.get(column.name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        entry = words[column.name]
        choices = [(code, code_label(column.name, code)) for code in entry.codes]
        return {
            "name": column.name,
            "label": entry.label,
            "help": entry.dictionary,
            "kind": column.kind.value,
            "choices": choices,
            "value": "" if value is None else str(value),
            "used": column.name in used,
            "required": not column.nullable,
            "errors": errors.get(column.name, []),
            "min": column.minimum,
            "max": column.maximum,
        }

    columns = {c.name: c for c in schema.INPUT_COLUMNS[1:]}
    key = [describe(columns[name]) for name in KEY_FIELDS]
    rest = [describe(c) for name, c in columns.items() if name not in KEY_FIELDS]
    return key, [f for f in rest if f["used"]], [f for f in rest if not f["used"]]


def _used_inputs(active: ModelVersion | None) -> set[str]:
    """The inputs the active model uses; without one, all but the attributes excluded by default."""
    if active is not None and active.features:
        return set(active.features)
    return set(schema.FEATURE_NAMES) - set(schema.DEFAULT_EXCLUDED)


@login_required
def demo_page(request: HttpRequest) -> HttpResponse:
    values, upload_error, queue_error = _defaults(), "", ""
    errors: dict[str, Any] = {}
    results: list[ScoreRequest] = []
    try:
        if request.method == "POST" and "file" in request.FILES:
            job, upload_error = _score_upload(request)
            if job is not None:
                return redirect("demo-batch", job_id=job.pk)
        elif request.method == "POST":
            values = {k: v for k, v in request.POST.items() if k in schema.INPUT_NAMES}
            serializer = ApplicantInputSerializer(data=_typed(values))
            if serializer.is_valid():
                results = _score_all(request, [serializer.validated_data])
            else:
                errors = serializer.errors
    except QueueUnavailableError as exc:
        queue_error = str(exc)
    active = model_version_get_active()
    key, others, unused = _fields(values, errors, _used_inputs(active))
    context = {
        "key_fields": key,
        "other_fields": others,
        "unused_fields": unused,
        "errors": errors,
        "results": [_result_view(r) for r in results],
        "upload_error": upload_error,
        "queue_error": queue_error,
        "active_model": active,
        "max_upload_kb": MAX_UPLOAD_BYTES // 1000,
    }
    status = 503 if queue_error else 400 if errors or upload_error else 200
    return render(request, "scoring/demo.html", context, status=status)


def _typed(form: dict[str, str]) -> dict[str, Any]:
    """Form text as the API's JSON types: numbers for numeric columns, None for blanks.

    Text that is not a number is passed on as it is, so the serializer names the field in error.
    """
    typed: dict[str, Any] = {}
    for name, text in form.items():
        text = text.strip()
        if text == "":
            typed[name] = None
        elif schema.COLUMNS_BY_NAME[name].is_numeric:
            try:
                number = float(text)
                typed[name] = int(number) if number.is_integer() else number
            except ValueError:
                typed[name] = text
        else:
            typed[name] = text
    return typed


def _score_all(request: HttpRequest, inputs: list[dict[str, Any]]) -> list[ScoreRequest]:
    """Each applicant's decision, or its queued request where the worker did not answer within the wait."""
    created: list[ScoreRequest] = []
    try:
        for applicant in inputs:
            created.append(
                score_request_create(
                    inputs=applicant, requested_by=request.user, channel=ScoreRequest.Channel.UI, listen=True
                )
            )
    except QueueUnavailableError:
        final_unlisten(score_request_ids=[r.pk for r in created])  # the page answers 503: nobody waits
        raise
    finals = score_requests_wait_final(
        score_request_ids=[r.pk for r in created], timeout=settings.CREDITRISK_SCORE_WAIT_SECONDS
    )
    return [finals.get(r.pk, r) for r in created]


def _result_view(result: ScoreRequest) -> dict[str, Any]:
    """A decision as the page draws it: the gauge over the range real applicants get, and the
    reasons as bars of their impact (the drop in probability of default at the reference value)."""
    view: dict[str, Any] = {
        "request": result,
        # What the page lists as not given, as the API does.
        "missing_inputs": missing_inputs(inputs=result.input_snapshot, model_version=result.model_version),
    }
    if result.status != ScoreRequest.Status.DONE or result.model_version is None:
        return view
    assert result.score is not None  # a done request has its score
    gauge = gauge_for(result.model_version)
    largest = max((reason["impact"] for reason in result.reasons), default=0.0) or 1.0
    view["gauge"], view["drawing"] = gauge, gauge_drawing(gauge, result.score)
    view["bars"] = [
        {
            "text": reason["text"],
            "pp": round(100 * reason["impact"], 1),
            "percent": round(100 * reason["impact"] / largest, 1),
        }
        for reason in result.reasons
    ]
    return view


def _score_upload(request: HttpRequest) -> tuple[BatchJob | None, str]:
    """A small file becomes a bulk job, whose page lists its results as one table."""
    upload = request.FILES["file"]
    assert isinstance(upload, UploadedFile)  # one file under that name
    if (upload.size or 0) > MAX_UPLOAD_BYTES:
        return None, "The demo takes files up to 1 MB; use the bulk jobs page for larger ones."
    try:
        job = batch_job_create(
            content=upload.chunks(),
            original_name=upload.name or "upload",
            uploaded_by=request.user,
            channel=BatchJob.Channel.UI,
        )
    except (DataFormatError, UploadTooLargeError) as exc:
        return None, f"{upload.name}: {exc}"
    return job, ""


@login_required
def demo_batch_upload(request: HttpRequest) -> HttpResponse:
    """A whole file as a bulk job (any size up to the upload limit); then its progress page."""
    upload = request.FILES.get("file") if request.method == "POST" else None
    if upload is None:
        return redirect("demo-batches")
    try:
        job = batch_job_create(
            content=upload.chunks(),
            original_name=upload.name or "upload",
            uploaded_by=request.user,
            channel=BatchJob.Channel.UI,
        )
    except (DataFormatError, UploadTooLargeError, QueueUnavailableError) as exc:
        return demo_batch_list(request, upload_error=f"{upload.name}: {exc}")
    return redirect("demo-batch", job_id=job.pk)


@login_required
def demo_batch_list(request: HttpRequest, upload_error: str = "") -> HttpResponse:
    jobs = batch_job_list(user=request.user)[:20]
    return render(
        request,
        "scoring/batches.html",
        {
            "jobs": [(job, batch_job_progress(job=job)) for job in jobs],
            "upload_error": upload_error,
            "max_upload_mb": settings.CREDITRISK_MAX_UPLOAD_BYTES // 1024**2,
        },
        status=400 if upload_error else 200,
    )


@login_required
def demo_batch_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_object_or_404(batch_job_list(user=request.user), pk=job_id)
    context: dict[str, Any] = {"job": job, "progress": batch_job_progress(job=job), "table_rows": TABLE_ROWS}
    if job.rows_done:
        context["counts"] = batch_decision_counts(job=job)
        if job.is_final and job.rows_total is not None and job.rows_total <= TABLE_ROWS:
            context["table"] = batch_result_table(job=job, limit=TABLE_ROWS)
    return render(request, "scoring/batch.html", context)
