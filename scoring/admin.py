"""The operations back-office."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from rest_framework.authtoken.admin import TokenAdmin

from ml.data import DataFormatError
from scoring.exports import csv_rows
from scoring.models import Applicant, BatchJob, ModelVersion, ScoreRequest, WorkerHeartbeat
from scoring.selectors import batch_job_progress, dashboard_figures
from scoring.services.batches import UploadTooLargeError, batch_job_cancel, batch_job_create
from scoring.services.dispatch import QueueUnavailableError
from scoring.services.model_versions import model_version_activate

TokenAdmin.raw_id_fields = ["user"]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "algorithm", "is_active", "cv_roc_auc", "holdout_roc_auc", "threshold", "created_at"]
    list_filter = ["is_active", "algorithm"]
    actions = ["activate"]
    readonly_fields = ["version", "algorithm", "is_active", "threshold", "cv_metrics", "holdout_metrics",
                       "comparison", "features", "excluded_features", "feature_importance", "hyperparameters",
                       "data_source", "data_sha256", "artifact_path", "artifact_sha256", "library_versions",
                       "rows", "random_state", "training_seconds", "created_at", "activated_at", "card"]  # fmt: skip
    exclude = ["model_card", "holdout_ids", "reference_applicant"]

    @admin.display(description="CV ROC AUC")
    def cv_roc_auc(self, obj: ModelVersion) -> str:
        return f"{obj.cv_metrics.get('roc_auc', 0):.4f}"

    @admin.display(description="holdout ROC AUC")
    def holdout_roc_auc(self, obj: ModelVersion) -> str:
        value = obj.holdout_metrics.get("roc_auc")
        return f"{value:.4f}" if value is not None else "-"

    @admin.display(description="model card")
    def card(self, obj: ModelVersion) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", obj.model_card)

    @admin.action(description="Activate the selected model version")
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return None
        version = queryset.get()
        if request.POST.get("confirm") != "yes":
            context = {**self.admin_site.each_context(request), "version": version, "opts": self.model._meta,
                       "active": ModelVersion.objects.filter(is_active=True).first(),
                       "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}  # fmt: skip
            return TemplateResponse(request, "admin/scoring/modelversion/activate_confirm.html", context)
        model_version_activate(model_version=version)
        self.message_user(request, f"{version.version} is now the active model.", messages.SUCCESS)
        return None


@admin.register(Applicant)
class ApplicantAdmin(ReadOnlyAdmin):
    list_display = ["id", "external_id", "age", "personal_monthly_income", "residencial_state", "created_at"]
    search_fields = ["external_id"]
    list_filter = ["created_at"]


@admin.register(ScoreRequest)
class ScoreRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "external_id", "status", "decision", "score", "probability_bad", "model_version",
                    "channel", "requested_by", "created_at"]  # fmt: skip
    list_filter = ["decision", "status", "channel", "model_version", "created_at"]
    search_fields = ["id", "applicant__external_id"]
    list_select_related = ["model_version", "applicant", "requested_by"]
    date_hierarchy = "created_at"
    actions = ["export_csv"]

    @admin.display(description="ID_CLIENT")
    def external_id(self, obj: ScoreRequest) -> Any:
        return obj.applicant.external_id

    @admin.action(description="Export the selected requests as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ScoreRequest]) -> StreamingHttpResponse:
        header = ["id", "ID_CLIENT", "status", "decision", "score", "probability_bad", "model_version", "threshold",
                  "channel", "requested_by", "reasons", "created_at", "finished_at", "record_hash"]  # fmt: skip
        rows = (
            [str(r.id), r.applicant.external_id, r.status, r.decision, r.score, r.probability_bad,
             r.model_version.version if r.model_version else "", r.threshold, r.channel,
             r.requested_by.get_username() if r.requested_by else "",
             "; ".join(reason["text"] for reason in r.reasons), r.created_at.isoformat(),
             r.finished_at.isoformat() if r.finished_at else "", r.record_hash]
            for r in queryset.select_related("applicant", "model_version", "requested_by").iterator()
        )  # fmt: skip
        response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="score-requests.csv"'
        return response


class BatchUploadForm(forms.Form):
    file = forms.FileField(help_text="Original PAKDD format (TAB, no header, latin-1) or CSV with a header row; "
                                     "either may be gzip-compressed")  # fmt: skip


@admin.register(BatchJob)
class BatchJobAdmin(ReadOnlyAdmin):
    list_display = ["original_name", "status", "rows", "percent", "rows_per_second", "eta", "model_version",
                    "uploaded_by", "channel", "created_at"]  # fmt: skip
    list_filter = ["status", "channel", "model_version", "created_at"]
    search_fields = ["id", "original_name", "file_sha256"]
    list_select_related = ["model_version", "uploaded_by"]
    date_hierarchy = "created_at"
    actions = ["cancel"]
    readonly_fields = ["downloads"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """The add page is an upload: the file becomes a job scored by the workers."""
        form = BatchUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = batch_job_create(content=upload.chunks(), original_name=upload.name or "upload",
                                       uploaded_by=request.user, channel=BatchJob.Channel.ADMIN)  # fmt: skip
            except (DataFormatError, UploadTooLargeError, QueueUnavailableError) as exc:
                form.add_error("file", f"{upload.name}: {exc}")
            else:
                self.message_user(request, f"{job.original_name} is queued for scoring.", messages.SUCCESS)
                return redirect("admin:scoring_batchjob_change", job.pk)
        context = {**self.admin_site.each_context(request), "title": "Upload a file to score", "form": form,
                   "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/scoring/batchjob/upload.html", context, status=400 if form.errors else 200)

    @admin.display(description="rows")
    def rows(self, obj: BatchJob) -> str:
        total = "?" if obj.rows_total is None else f"{obj.rows_total:,}"
        return f"{obj.rows_done:,} scored, {obj.rows_failed:,} invalid of {total}"

    @admin.display(description="%")
    def percent(self, obj: BatchJob) -> Any:
        return batch_job_progress(job=obj)["percent"]

    @admin.display(description="rows/s")
    def rows_per_second(self, obj: BatchJob) -> Any:
        return batch_job_progress(job=obj)["rows_per_second"] or "-"

    @admin.display(description="ETA (s)")
    def eta(self, obj: BatchJob) -> Any:
        eta = batch_job_progress(job=obj)["eta_seconds"]
        return "-" if eta is None else round(eta)

    @admin.display(description="downloads")
    def downloads(self, obj: BatchJob) -> str:
        links = format_html('<a href="{}">invalid rows (CSV)</a>', reverse("batch-errors", args=[obj.pk]))
        if obj.status in (BatchJob.Status.DONE, BatchJob.Status.CANCELLED):
            links = format_html('<a href="{}">decisions (CSV)</a> · {}', reverse("batch-results", args=[obj.pk]), links)
        return links

    @admin.action(description="Cancel the selected jobs")
    def cancel(self, request: HttpRequest, queryset: QuerySet[BatchJob]) -> None:
        cancelled = [batch_job_cancel(job=job) for job in queryset if not job.is_final]
        self.message_user(request, f"{len(cancelled)} jobs cancelled; rows already scored stay on record.")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["hostname", "queues", "last_seen"]


def dashboard_view(request: HttpRequest) -> TemplateResponse:
    context = {**admin.site.each_context(request), "title": "Scoring dashboard", **dashboard_figures()}
    return TemplateResponse(request, "admin/scoring/dashboard.html", context)


def _admin_urls(original: Any) -> Any:
    def urls() -> list[Any]:
        return [path("scoring/dashboard/", admin.site.admin_view(dashboard_view), name="scoring-dashboard"),
                *original()]  # fmt: skip

    return urls


admin.site.get_urls = _admin_urls(admin.site.get_urls)  # type: ignore[method-assign]
admin.site.site_header = "Credit-risk scoring: back-office"
admin.site.index_title = format_html('Operations · <a href="{}">dashboard</a>', "/admin/scoring/dashboard/")
