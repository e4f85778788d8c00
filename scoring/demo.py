"""The demo page: score one applicant from a form, a small CSV of applicants, or a whole file as a bulk job.

It goes through the same serializer and services as the API, with channel ``ui``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from ml import schema
from ml.data import DataFormatError, decode, parse_applications, records_from_frame
from scoring.models import BatchJob, ScoreRequest
from scoring.selectors import batch_job_list, batch_job_progress, model_version_get_active, score_request_wait_final
from scoring.serializers import ApplicantInputSerializer
from scoring.services.batches import UploadTooLargeError, batch_job_create
from scoring.services.dispatch import QueueUnavailableError
from scoring.services.score_requests import score_request_create

KEY_FIELDS = ("AGE", "PERSONAL_MONTHLY_INCOME", "PAYMENT_DAY", "RESIDENCIAL_STATE", "MONTHS_IN_RESIDENCE",
              "OCCUPATION_TYPE", "PROFESSION_CODE", "FLAG_RESIDENCIAL_PHONE", "FLAG_PROFESSIONAL_PHONE", "COMPANY",
              "RESIDENCE_TYPE", "QUANT_DEPENDANTS", "APPLICATION_SUBMISSION_TYPE", "PRODUCT")  # fmt: skip
MAX_CSV_ROWS = 200
MAX_UPLOAD_BYTES = 1_000_000
MAX_TEXT_BYTES = 5_000_000  # once decompressed: a 1 MB gzip could otherwise expand to a gigabyte in memory
FALLBACK_DEFAULTS = {"AGE": 35, "PERSONAL_MONTHLY_INCOME": 800, "PAYMENT_DAY": "10", "RESIDENCIAL_STATE": "SP",
                     "APPLICATION_SUBMISSION_TYPE": "Web", "PRODUCT": "1"}  # fmt: skip


def _defaults() -> dict[str, Any]:
    active = model_version_get_active()
    reference = dict(active.reference_applicant) if active else {}
    values = {**FALLBACK_DEFAULTS, **{k: v for k, v in reference.items() if v is not None}}
    for name in ("AGE", "PAYMENT_DAY"):  # required fields always get a value
        values.setdefault(name, FALLBACK_DEFAULTS[name])
    return values


def _fields(values: dict[str, Any], errors: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    def describe(column: schema.Column) -> dict[str, Any]:
        value = values.get(column.name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return {"name": column.name, "label": column.description, "kind": column.kind.value,
                "choices": column.allowed, "value": "" if value is None else value,
                "required": not column.nullable, "errors": errors.get(column.name, []),
                "min": column.minimum, "max": column.maximum}  # fmt: skip

    columns = {c.name: c for c in schema.INPUT_COLUMNS[1:]}
    key = [describe(columns[name]) for name in KEY_FIELDS]
    others = [describe(c) for name, c in columns.items() if name not in KEY_FIELDS]
    return key, others


@login_required
def demo_page(request: HttpRequest) -> HttpResponse:
    values, errors, results, upload_error, queue_error = _defaults(), {}, [], "", ""
    try:
        if request.method == "POST" and "file" in request.FILES:
            results, upload_error = _score_upload(request)
        elif request.method == "POST":
            values = {k: v for k, v in request.POST.items() if k in schema.INPUT_NAMES}
            serializer = ApplicantInputSerializer(data=_typed(values))
            if serializer.is_valid():
                results = _score_all(request, [serializer.validated_data])
            else:
                errors = serializer.errors
    except QueueUnavailableError as exc:
        queue_error = str(exc)
    key, others = _fields(values, errors)
    context = {"key_fields": key, "other_fields": others, "results": results, "errors": errors,
               "upload_error": upload_error, "queue_error": queue_error, "active_model": model_version_get_active(),
               "max_rows": MAX_CSV_ROWS}  # fmt: skip
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


def _score_all(request: HttpRequest, inputs: list[dict[str, Any]]) -> list[ScoreRequest | None]:
    created = [score_request_create(inputs=i, requested_by=request.user, channel=ScoreRequest.Channel.UI)
               for i in inputs]  # fmt: skip
    timeout = settings.CREDITRISK_SCORE_WAIT_SECONDS
    return [score_request_wait_final(score_request_id=r.pk, timeout=timeout) or r for r in created]


def _score_upload(request: HttpRequest) -> tuple[list[ScoreRequest | None], str]:
    upload = request.FILES["file"]
    if upload.size > MAX_UPLOAD_BYTES:
        return [], "The demo takes files up to 1 MB; use the batch API for larger ones."
    try:
        applications = parse_applications(decode(upload.read(), max_size=MAX_TEXT_BYTES), strict=True)
    except DataFormatError as exc:
        return [], str(exc)
    if len(applications.frame) > MAX_CSV_ROWS:
        return [], f"The demo scores up to {MAX_CSV_ROWS} applicants; this file has {len(applications.frame)}."
    inputs = []
    for record in records_from_frame(applications.frame):
        serializer = ApplicantInputSerializer(data={k: v for k, v in record.items() if k != schema.LABEL})
        if not serializer.is_valid():
            return [], f"Applicant {record.get(schema.ID_COLUMN)}: {serializer.errors}"
        inputs.append(serializer.validated_data)
    return _score_all(request, inputs), ""


@login_required
def demo_batch_upload(request: HttpRequest) -> HttpResponse:
    """A whole file as a bulk job (any size up to the upload limit); then its progress page."""
    upload = request.FILES.get("file") if request.method == "POST" else None
    if upload is None:
        return redirect("demo-batches")
    try:
        job = batch_job_create(content=upload.chunks(), original_name=upload.name or "upload",
                               uploaded_by=request.user, channel=BatchJob.Channel.UI)  # fmt: skip
    except (DataFormatError, UploadTooLargeError, QueueUnavailableError) as exc:
        return demo_batch_list(request, upload_error=f"{upload.name}: {exc}")
    return redirect("demo-batch", job_id=job.pk)


@login_required
def demo_batch_list(request: HttpRequest, upload_error: str = "") -> HttpResponse:
    jobs = batch_job_list(user=request.user)[:20]
    return render(request, "scoring/batches.html",
                  {"jobs": [(job, batch_job_progress(job=job)) for job in jobs], "upload_error": upload_error,
                   "max_upload_mb": settings.CREDITRISK_MAX_UPLOAD_BYTES // 1024**2},
                  status=400 if upload_error else 200)  # fmt: skip


@login_required
def demo_batch_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = get_object_or_404(batch_job_list(user=request.user), pk=job_id)
    return render(request, "scoring/batch.html", {"job": job, "progress": batch_job_progress(job=job)})
