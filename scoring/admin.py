"""The operations back-office."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from rest_framework.authtoken.admin import TokenAdmin

from api.exports import csv_rows
from backoffice.admin import ReadOnlyAdmin
from backoffice.display import KEY_LABELS, key_value_table, plain, probability_text
from ml import drift, schema
from ml.file_formats import DataFormatError
from ml.scorecard import APPROVE, DECLINE
from scoring import admin_html
from scoring.models import (
    Applicant,
    BatchJob,
    DriftReport,
    ModelVersion,
    OutcomeUpload,
    ScoreRequest,
    ShadowScore,
    WorkerHeartbeat,
)
from scoring.monitoring import dashboard_figures
from scoring.queues import QueueUnavailableError
from scoring.selectors import batch_job_progress, outcome_listed_rows
from scoring.services.batch_files import UploadTooLargeError
from scoring.services.batch_jobs import batch_job_cancel, batch_job_create
from scoring.services.challenger import ChallengerError, challenger_clear, challenger_set
from scoring.services.challenger_comparison import ChallengerComparison, NoComparisonError, challenger_comparison
from scoring.services.model_versions import model_version_activate
from scoring.services.outcomes import OutcomesBusyError, model_version_performance, outcome_upload_create

TokenAdmin.raw_id_fields = ["user"]


FIGURE_ROLES = ("roc", "calibration", "importance")  # the PNGs training writes beside the artifact


def _figure_path(version: ModelVersion, role: str) -> Path | None:
    """The version's figure of ``role`` written at training time, if it is still there."""
    path = Path(settings.CREDITRISK_MODEL_DIR) / f"{version.version}-{role}.png"
    return path if role in FIGURE_ROLES and path.is_file() else None


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "version",
        "algorithm",
        "role",
        "cv_roc_auc",
        "holdout_roc_auc",
        "policy_threshold",
        "created_at",
        "realised",
    ]
    list_filter = ["is_active", "is_challenger", "algorithm"]
    actions = ["activate", "make_challenger", "stop_challenger"]
    change_form_template = "admin/scoring/modelversion/change_form.html"
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "version",
                    "algorithm",
                    "role",
                    "policy_threshold",
                    "threshold_choice_table",
                    "created_at",
                    "activated_at",
                    "challenger_since",
                ]
            },
        ),
        (
            "How well it predicts",
            {"fields": ["cv_metrics_table", "holdout_metrics_table", "refit_table", "comparison_table", "realised"]},
        ),
        (
            "What it looks at",
            {"fields": ["importance_chart", "figures", "features_list", "excluded_list", "monotone_list"]},
        ),
        (
            "How it was made",
            {
                "fields": [
                    "hyperparameters_table",
                    "rows_table",
                    "random_state",
                    "training_time",
                    "data_source",
                    "data_sha256",
                    "artifact_path",
                    "artifact_sha256",
                    "library_versions_table",
                ]
            },
        ),
        ("Model card", {"fields": ["card"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"] if isinstance(field, str)]

    @admin.display(description="role", ordering="-is_active")
    def role(self, obj: ModelVersion) -> str:
        if obj.is_active:
            return "champion (active: makes every decision)"
        if obj.is_challenger:
            return format_html(
                'challenger (scores in shadow) · <a href="{}">comparison</a>', reverse("admin:scoring-challenger")
            )
        return "-"

    @admin.display(description="refitted on every labelled row")
    def refit_table(self, obj: ModelVersion) -> str:
        if not obj.refit:
            return "No: the artifact was fitted on the development rows only; the holdout is unseen."
        labels = {
            "rows": "labelled rows fitted (holdout included)",
            "cv_metrics": "cross-validated over them",
            "calibration": "calibration",
            "holdout_metrics": "the holdout figures above are",
            **admin_html.METRIC_LABELS,
        }
        return key_value_table(obj.refit, labels)

    @admin.display(description="CV ROC AUC")
    def cv_roc_auc(self, obj: ModelVersion) -> str:
        return f"{obj.cv_metrics.get('roc_auc', 0):.4f}"

    @admin.display(description="holdout ROC AUC")
    def holdout_roc_auc(self, obj: ModelVersion) -> str:
        value = obj.holdout_metrics.get("roc_auc")
        return f"{value:.4f}" if value is not None else "-"

    @admin.display(description="decline at probability of default")
    def policy_threshold(self, obj: ModelVersion) -> str:
        return f"{obj.threshold:.3f}"

    @admin.display(description="on observed outcomes")
    def realised(self, obj: ModelVersion) -> str:
        url = reverse("admin:scoring_modelversion_performance", args=[obj.pk])
        return format_html('<a href="{}">realised performance</a>', url)

    @admin.display(description="how the cut-off was chosen")
    def threshold_choice_table(self, obj: ModelVersion) -> str:
        return key_value_table(obj.threshold_choice)

    @admin.display(description="cross-validated")
    def cv_metrics_table(self, obj: ModelVersion) -> str:
        return key_value_table(obj.cv_metrics, admin_html.METRIC_LABELS)

    @admin.display(description="on the holdout")
    def holdout_metrics_table(self, obj: ModelVersion) -> str:
        return key_value_table(obj.holdout_metrics, admin_html.METRIC_LABELS)

    @admin.display(description="candidates compared")
    def comparison_table(self, obj: ModelVersion) -> str:
        return admin_html.records_table(obj.comparison)

    @admin.display(description="most important inputs")
    def importance_chart(self, obj: ModelVersion) -> str:
        return admin_html.importance_svg(obj.feature_importance)

    @admin.display(description="ROC and calibration")
    def figures(self, obj: ModelVersion) -> str:
        images = [
            (reverse("admin:scoring_modelversion_figure", args=[obj.pk, role]), role)
            for role in ("roc", "calibration")
            if _figure_path(obj, role)
        ]
        if not images:
            return "No figures were kept for this version (they are written beside the artifact at training)."
        return format_html_join("", "<img class='figure' src='{}' alt='{} chart'>", images)

    @admin.display(description="inputs used")
    def features_list(self, obj: ModelVersion) -> str:
        return plain(obj.features)

    @admin.display(description="attributes kept out")
    def excluded_list(self, obj: ModelVersion) -> str:
        return plain(obj.excluded_features)

    @admin.display(description="never raise the risk for more of")
    def monotone_list(self, obj: ModelVersion) -> str:
        return plain([name for name, _ in obj.monotone])

    @admin.display(description="hyper-parameters")
    def hyperparameters_table(self, obj: ModelVersion) -> str:
        return key_value_table(obj.hyperparameters)

    @admin.display(description="rows")
    def rows_table(self, obj: ModelVersion) -> str:
        return key_value_table(obj.rows)

    @admin.display(description="training time")
    def training_time(self, obj: ModelVersion) -> str:
        return f"{obj.training_seconds:.0f} s"

    @admin.display(description="library versions")
    def library_versions_table(self, obj: ModelVersion) -> str:
        return key_value_table(obj.library_versions)

    @admin.display(description="model card")
    def card(self, obj: ModelVersion) -> str:
        def figure_url(src: str) -> str | None:
            role = src.removeprefix(f"{obj.version}-").removesuffix(".png")
            if src != f"{obj.version}-{role}.png" or _figure_path(obj, role) is None:
                return None
            return reverse("admin:scoring_modelversion_figure", args=[obj.pk, role])

        if not obj.model_card:
            return "No model card was written for this version."
        return format_html("<div class='model-card'>{}</div>", admin_html.model_card_html(obj.model_card, figure_url))

    def get_urls(self) -> list[Any]:
        figure = path(
            "<int:pk>/figure/<str:role>.png",
            self.admin_site.admin_view(self.figure_view),
            name="scoring_modelversion_figure",
        )
        performance = path(
            "<int:pk>/performance/",
            self.admin_site.admin_view(self.performance_view),
            name="scoring_modelversion_performance",
        )
        return [figure, performance, *super().get_urls()]

    def performance_view(self, request: HttpRequest, pk: int) -> TemplateResponse:
        """The version's realised performance on its decisions with outcomes: tables and a calibration chart."""
        version = self.get_object(request, str(pk))
        if version is None or not self.has_view_permission(request):
            raise Http404("No such model version.")
        report = model_version_performance(model_version=version)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": version,
            "title": f"Realised performance of {version.version}",
            "report": report,
            "chart": admin_html.calibration_svg(report["calibration"]),
            "economics": "; ".join(
                f"{KEY_LABELS.get(key, key)} {plain(value)}"
                for key, value in report["profit"]["economics"].items()
                if value
            ),
        }
        return TemplateResponse(request, "admin/scoring/modelversion/performance.html", context)

    def figure_view(self, request: HttpRequest, pk: int, role: str) -> FileResponse:
        """A figure of the version, read from the model folder by its role only: no path from the request."""
        version = self.get_object(request, str(pk))
        figure = _figure_path(version, role) if version is not None and self.has_view_permission(request) else None
        if figure is None:
            raise Http404("No such figure.")
        return FileResponse(figure.open("rb"), content_type="image/png")

    @admin.action(description="Activate the selected model version", permissions=["manage"])
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return None
        version = queryset.get()
        if version.is_active and request.POST.get("confirm") == "yes":
            self.message_user(request, f"Model {version.version} is already the active one; nothing changed.")
            return None
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "version": version,
                "opts": self.model._meta,
                "active": ModelVersion.objects.filter(is_active=True).first(),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/scoring/modelversion/activate_confirm.html", context)
        promoted = version.is_challenger
        model_version_activate(model_version=version)
        self.message_user(
            request,
            f"{version.version} is now the active model"
            f"{' (promoted from challenger: there is no challenger now)' if promoted else ''}.",
            messages.SUCCESS,
        )
        return None

    @admin.action(description="Make the selected version the challenger (scored in shadow)", permissions=["manage"])
    def make_challenger(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to make the challenger.", messages.ERROR)
            return None
        version = queryset.get()
        if version.is_active:
            self.message_user(
                request,
                f"{version.version} is the active model, the champion: it cannot also be "
                "its challenger. Nothing changed.",
                messages.ERROR,
            )
            return None
        if version.is_challenger:
            self.message_user(request, f"{version.version} is already the challenger; nothing changed.")
            return None
        if request.POST.get("confirm") != "yes":
            return self._challenger_confirmation(request, version, "make_challenger")
        try:
            challenger_set(model_version=version)
        except ChallengerError as exc:
            self.message_user(request, f"{exc}. Nothing changed.", messages.ERROR)
            return None
        self.log_change(request, version, "Made the challenger: every new decision is also scored by it in shadow.")
        self.message_user(
            request,
            f"{version.version} is now the challenger: every new decision is also scored by it in shadow.",
            messages.SUCCESS,
        )
        return None

    @admin.action(description="Stop the challenger (no more shadow scores)", permissions=["manage"])
    def stop_challenger(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        current = queryset.filter(is_challenger=True).first()
        if current is None:
            challenger = ModelVersion.objects.filter(is_challenger=True).first()
            self.message_user(
                request,
                "None of the selected versions is the challenger"
                f"{f' ({challenger.version} is)' if challenger else ''}; nothing changed.",
            )
            return None
        if request.POST.get("confirm") != "yes":
            return self._challenger_confirmation(request, current, "stop_challenger")
        challenger_clear()
        self.log_change(request, current, "Stopped as the challenger; its shadow scores stay on record.")
        self.message_user(
            request,
            f"{current.version} is no longer the challenger; its shadow scores stay on record.",
            messages.SUCCESS,
        )
        return None

    def _challenger_confirmation(self, request: HttpRequest, version: ModelVersion, action: str) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "version": version,
            "opts": self.model._meta,
            "action": action,
            "active": ModelVersion.objects.filter(is_active=True).first(),
            "current": ModelVersion.objects.filter(is_challenger=True).first(),
            "shadowed": ShadowScore.objects.filter(challenger=version).count(),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/scoring/modelversion/challenger_confirm.html", context)


@admin.register(Applicant)
class ApplicantAdmin(ReadOnlyAdmin):
    list_display = ["id", "external_id", "age", "personal_monthly_income", "residencial_state", "created_at"]
    search_fields = ["external_id"]
    list_filter = ["created_at"]


@admin.register(ScoreRequest)
class ScoreRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "external_id",
        "status",
        "decision",
        "score",
        "probability",
        "model_version",
        "channel",
        "requested_by",
        "created_at",
    ]
    list_filter = ["decision", "status", "channel", "model_version", "created_at"]
    search_fields = ["id", "applicant__external_id"]
    list_select_related = ["model_version", "applicant", "requested_by"]
    date_hierarchy = "created_at"
    actions = ["export_csv"]

    @admin.display(description="ID_CLIENT")
    def external_id(self, obj: ScoreRequest) -> Any:
        return obj.applicant.external_id

    @admin.display(description="probability of default", ordering="probability_bad")
    def probability(self, obj: ScoreRequest) -> str:
        return probability_text(obj.probability_bad)

    @admin.action(description="Export the selected requests as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ScoreRequest]) -> StreamingHttpResponse:
        header = [
            "id",
            "ID_CLIENT",
            "status",
            "decision",
            "score",
            "probability_bad",
            "model_version",
            "threshold",
            "channel",
            "requested_by",
            "reasons",
            "created_at",
            "finished_at",
            "record_hash",
        ]
        rows = (
            [
                str(r.id),
                r.applicant.external_id,
                r.status,
                r.decision,
                r.score,
                r.probability_bad,
                r.model_version.version if r.model_version else "",
                r.threshold,
                r.channel,
                r.requested_by.get_username() if r.requested_by else "",
                "; ".join(reason["text"] for reason in r.reasons),
                r.created_at.isoformat(),
                r.finished_at.isoformat() if r.finished_at else "",
                r.record_hash,
            ]
            for r in queryset.select_related("applicant", "model_version", "requested_by").iterator()
        )
        response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="score-requests.csv"'
        return response


class BatchUploadForm(forms.Form):
    file = forms.FileField(
        help_text="Original PAKDD format (TAB, no header, latin-1) or CSV with a header row; "
        "either may be gzip-compressed"
    )


@admin.register(BatchJob)
class BatchJobAdmin(ReadOnlyAdmin):
    list_display = [
        "original_name",
        "status",
        "rows",
        "percent",
        "rows_per_second",
        "eta",
        "model_version",
        "uploaded_by",
        "channel",
        "created_at",
    ]
    list_filter = ["status", "channel", "model_version", "created_at"]
    search_fields = ["id", "original_name", "file_sha256"]
    list_select_related = ["model_version", "uploaded_by"]
    date_hierarchy = "created_at"
    actions = ["cancel"]
    readonly_fields = ["progress", "downloads"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_model_permission(request, "add")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """The add page is an upload: the file becomes a job scored by the workers."""
        self.add_view_checked(request)
        form = BatchUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = batch_job_create(
                    content=upload.chunks(),
                    original_name=upload.name or "upload",
                    uploaded_by=request.user,
                    channel=BatchJob.Channel.ADMIN,
                )
            except (DataFormatError, UploadTooLargeError, QueueUnavailableError) as exc:
                form.add_error("file", f"{upload.name}: {exc}")
            else:
                self.message_user(request, f"{job.original_name} is queued for scoring.", messages.SUCCESS)
                return redirect("admin:scoring_batchjob_change", job.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a file to score",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "admin/scoring/batchjob/upload.html", context, status=400 if form.errors else 200
        )

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

    @admin.display(description="progress")
    def progress(self, obj: BatchJob) -> str:
        """Rows handled (within the chunks under way too), the rate and the time left, as the API gives them."""
        progress = batch_job_progress(job=obj)
        total = "?" if obj.rows_total is None else f"{obj.rows_total:,}"
        text = f"{progress['rows_handled']:,} of {total} rows ({progress['percent']} %)"
        if progress["rows_in_progress"]:
            text += f", {progress['rows_in_progress']:,} of them in chunks under way"
        if progress["rows_per_second"]:
            text += f" · {progress['rows_per_second']:,} rows/s"
        if progress["eta_seconds"] is not None:
            text += f" · about {round(progress['eta_seconds'])} s left"
        return text

    @admin.display(description="downloads")
    def downloads(self, obj: BatchJob) -> str:
        links = format_html('<a href="{}">invalid rows (CSV)</a>', reverse("batch-errors", args=[obj.pk]))
        if obj.status in (BatchJob.Status.DONE, BatchJob.Status.CANCELLED):
            links = format_html('<a href="{}">decisions (CSV)</a> · {}', reverse("batch-results", args=[obj.pk]), links)
        return links

    @admin.action(description="Cancel the selected jobs", permissions=["manage"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[BatchJob]) -> None:
        cancelled = [batch_job_cancel(job=job) for job in queryset if not job.is_final]
        self.message_user(request, f"{len(cancelled)} jobs cancelled; rows already scored stay on record.")


@admin.register(DriftReport)
class DriftReportAdmin(ReadOnlyAdmin):
    """Population stability reports: the table and a chart of every index, and each input's bins."""

    list_display = [
        "created_at",
        "model_version",
        "source",
        "description",
        "rows",
        "score_psi",
        "largest_psi",
        "act_on",
    ]
    list_filter = ["source", "model_version"]
    list_select_related = ["model_version"]
    change_form_template = "admin/scoring/driftreport/change_form.html"
    readonly_fields = ["model_version", "source", "description", "since", "until", "rows", "created_at"]
    fields = tuple(readonly_fields)

    @admin.display(description="inputs above 0.25")
    def act_on(self, obj: DriftReport) -> str:
        return ", ".join(obj.inputs_to_act_on) or "-"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        active = ModelVersion.objects.filter(is_active=True).only("version", "drift_reference").first()
        if active is not None and not active.drift_reference:
            self.message_user(
                request,
                f"The active model {active.version} was trained before drift references were "
                f"kept: no report can be made until `python manage.py train "
                f"--add-drift-reference {active.version}` adds one.",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        record = self.get_object(request, object_id)
        context = {**(extra_context or {})}
        if record is not None:
            context.update(drift_report_context(drift.DriftReport.from_dict(record.report)))
        return super().change_view(request, object_id, form_url, extra_context=context)


def drift_report_context(report: drift.DriftReport) -> dict[str, Any]:
    """What the report's page draws: one row an index (the score first) with its bar, and its bins."""
    rows = [*([report.score] if report.score else []), *report.inputs]
    scale = max(0.3, *(row.psi for row in rows)) if rows else 0.3
    return {
        "report": report,
        "marks": {"watch": 100 * drift.STABLE_BELOW / scale, "act": 100 * drift.ACT_ABOVE / scale},
        "rows": [
            {
                "row": row,
                "width": 100 * row.psi / scale,
                "bins": [
                    {"label": label, "expected": 100 * e, "actual": 100 * a}
                    for label, e, a in zip(row.labels, row.expected, row.actual, strict=True)
                ],
            }
            for row in rows
        ],
    }


class OutcomeUploadForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row: ID_CLIENT or decision_id, bad (1 defaulted, 0 repaid) "
        "and optionally date (YYYY-MM-DD); it may be gzip-compressed"
    )
    note = forms.CharField(
        max_length=200,
        required=False,
        help_text="What the file is, kept with the upload",
        validators=[RegexValidator(rf"^[^{schema.CONTROL_CHARACTERS[1:-1]}]*$", "Plain text on one line, please.")],
    )
    decisions_of = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="every client's decisions",
        label="Match with the decisions of",
        help_text="A client's outcomes: match their ID_CLIENT with that client's decisions only "
        "(two lenders may use the same ID_CLIENT)",
    )


@admin.register(OutcomeUpload)
class OutcomeUploadAdmin(ReadOnlyAdmin):
    """Outcome uploads: an upload form, the list (read-only), and each upload's counts and listed rows."""

    list_display = [
        "created_at",
        "original_name",
        "note",
        "applied_rows",
        "listed_counts",
        "uploaded_by",
        "decisions_of",
        "channel",
    ]
    list_filter = ["channel", "created_at"]
    search_fields = ["id", "original_name", "note", "file_sha256"]
    list_select_related = ["uploaded_by", "decisions_of"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "original_name",
        "note",
        "uploaded_by",
        "decisions_of",
        "channel",
        "created_at",
        "size_bytes",
        "file_sha256",
        "applied_rows",
        "listed_counts",
        "ignored_columns",
        "sequence",
        "record_hash",
        "listed_table",
    ]
    fields = tuple(readonly_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_model_permission(request, "add")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """The add page is an upload; a refused file shows the reason, with the note and the client kept."""
        self.add_view_checked(request)
        form = OutcomeUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                stored = outcome_upload_create(
                    content=upload.chunks(),
                    original_name=upload.name or "outcomes",
                    uploaded_by=request.user,
                    channel=OutcomeUpload.Channel.ADMIN,
                    note=form.cleaned_data["note"],
                    decisions_of=form.cleaned_data["decisions_of"],
                )
            except (DataFormatError, UploadTooLargeError, OutcomesBusyError) as exc:
                form.add_error("file", f"{upload.name}: {exc}")
            else:
                listed = sum(n for kind, n in stored.counts.items() if kind != "ambiguous")
                self.message_user(
                    request,
                    f"{stored.original_name}: {stored.applied:,} of {stored.rows:,} outcomes "
                    f"recorded, {listed:,} rows listed.",
                    messages.SUCCESS if not listed else messages.WARNING,
                )
                return redirect("admin:scoring_outcomeupload_change", stored.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload observed outcomes",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "admin/scoring/outcomeupload/upload.html", context, status=400 if form.errors else 200
        )

    @admin.display(description="recorded")
    def applied_rows(self, obj: OutcomeUpload) -> str:
        return f"{obj.applied:,} of {obj.rows:,}"

    @admin.display(description="listed")
    def listed_counts(self, obj: OutcomeUpload) -> str:
        return ", ".join(f"{n:,} {kind}" for kind, n in obj.counts.items() if n) or "-"

    @admin.display(description="rows listed (first 500)")
    def listed_table(self, obj: OutcomeUpload) -> str:
        rows = list(outcome_listed_rows(upload=obj, limit=500))
        link = format_html('<p><a href="{}">every listed row (CSV)</a></p>', reverse("outcome-listed", args=[obj.pk]))
        if not rows:
            return mark_safe("<p>Every row was recorded.</p>")  # noqa: S308 - constant markup
        body = format_html_join(
            "",
            "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((kind, line, reference, kind, problem) for line, reference, kind, problem in rows),
        )
        return format_html(
            "<table class='records'><thead><tr><th>line</th><th>names</th><th>kind</th>"
            "<th>why</th></tr></thead><tbody>{}</tbody></table>{}",
            body,
            link,
        )


@admin.register(ShadowScore)
class ShadowScoreAdmin(ReadOnlyAdmin):
    """The challenger's shadow scores, beside the champion's decisions; the comparison has a page of its own."""

    list_display = [
        "created_at",
        "source",
        "external_id",
        "champion",
        "champion_decision",
        "champion_probability_text",
        "challenger",
        "challenger_decision",
        "challenger_probability_text",
        "agrees",
        "error",
    ]
    list_filter = ["challenger", "champion", "champion_decision", "decision"]
    list_select_related = ["challenger", "champion"]
    search_fields = ["external_id", "score_request__id", "job__id"]

    @admin.display(description="decision of")
    def source(self, obj: ShadowScore) -> str:
        if obj.score_request_id:
            return format_html(
                '<a href="{}">request</a>', reverse("admin:scoring_scorerequest_change", args=[obj.score_request_id])
            )
        where = f"line {obj.line}" if obj.line is not None else f"{obj.decisions:,} rows"
        return format_html(
            '<a href="{}">bulk job</a>, {}', reverse("admin:scoring_batchjob_change", args=[obj.job_id]), where
        )

    @admin.display(description="champion's probability", ordering="champion_probability")
    def champion_probability_text(self, obj: ShadowScore) -> str:
        return probability_text(obj.champion_probability)

    @admin.display(description="challenger's decision", ordering="decision")
    def challenger_decision(self, obj: ShadowScore) -> str:
        return obj.decision or "failed"

    @admin.display(description="challenger's probability", ordering="probability_bad")
    def challenger_probability_text(self, obj: ShadowScore) -> str:
        return probability_text(obj.probability_bad)

    @admin.display(description="agree", boolean=True)
    def agrees(self, obj: ShadowScore) -> bool | None:
        return None if obj.error else obj.decision == obj.champion_decision

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {
            "title": "Shadow scores of the challenger",
            "subtitle": format_html(
                'The comparison with the champion: <a href="{}">champion and challenger</a>',
                reverse("admin:scoring-challenger"),
            ),
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})


class ComparisonForm(forms.Form):
    """Which pair of versions, and when: the comparison page's filters (all optional)."""

    challenger = forms.ModelChoiceField(
        queryset=ModelVersion.objects.all(),
        to_field_name="version",
        required=False,
        empty_label="the challenger now, else the last that scored",
    )
    champion = forms.ModelChoiceField(
        queryset=ModelVersion.objects.all(),
        to_field_name="version",
        required=False,
        empty_label="the champion of its latest shadow score",
    )
    since = forms.DateTimeField(required=False, help_text="UTC, e.g. 2026-11-01 or 2026-11-01 08:00")
    until = forms.DateTimeField(required=False)

    def clean(self) -> dict[str, Any]:
        values = super().clean() or {}
        if values.get("since") and values.get("until") and values["since"] >= values["until"]:
            self.add_error("until", "Must be later than since.")
        return values


def challenger_view(request: HttpRequest) -> TemplateResponse:
    """Champion and challenger: agreement, the swap sets, the score shift and both score distributions."""
    form = ComparisonForm(request.GET or None)
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Champion and challenger",
        "form": form,
        "challenger": ModelVersion.objects.filter(is_challenger=True).first(),
        "active": ModelVersion.objects.filter(is_active=True).first(),
    }
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        values = form.cleaned_data if form.is_bound else {}
        try:
            report = challenger_comparison(**{k: v for k, v in values.items() if v})
        except NoComparisonError as exc:
            context["nothing"] = str(exc)
        else:
            context.update(comparison_context(report))
    return TemplateResponse(request, "admin/scoring/challenger.html", context, status=status)


def comparison_context(report: ChallengerComparison) -> dict[str, Any]:
    """What the comparison page draws: the 2x2 table, the swap sets, the shift bands and the two
    score distributions as bars (heights in % of the fullest bin)."""
    comparison, shift = report.comparison, report.comparison.shift
    peak = max((max(b["champion"], b["challenger"]) for b in comparison.histogram), default=0)
    band_peak = max((band["decisions"] for band in shift.bands), default=0)
    cells = {(c["champion_decision"], c["challenger_decision"]): c for c in comparison.cells}
    return {
        "report": report,
        "comparison": comparison,
        "grid": [
            (
                decision,
                *(
                    {**cells[(decision, other)], "share_text": _number(cells[(decision, other)]["share"], 3)}
                    for other in (APPROVE, DECLINE)
                ),
            )
            for decision in (APPROVE, DECLINE)
        ],
        "text": {
            "agreement": _number(comparison.agreement_rate, 3),
            "approval": (
                _number(comparison.champion_approval_rate, 3),
                _number(comparison.challenger_approval_rate, 3),
            ),
            "probability": (
                _number(comparison.champion_mean_probability, 4),
                _number(comparison.challenger_mean_probability, 4),
            ),
            "points": (_number(shift.champion_mean_points, 1), _number(shift.challenger_mean_points, 1)),
            "shift": _number(shift.mean, 1),
            "moved": _number(shift.share_moved_20, 3),
        },
        "swaps": [
            {
                "label": label,
                "set": swap,
                "share": _number(swap.share, 3),
                "champion": _number(swap.champion_mean_probability, 4),
                "challenger": _number(swap.challenger_mean_probability, 4),
            }
            for label, swap in (("swap-in", comparison.swap_in), ("swap-out", comparison.swap_out))
        ],
        "histogram": [
            {
                **b,
                "champion_height": 100 * b["champion"] / peak if peak else 0,
                "challenger_height": 100 * b["challenger"] / peak if peak else 0,
            }
            for b in comparison.histogram
        ],
        "bands": [
            {
                **band,
                "width": 100 * band["decisions"] / band_peak if band_peak else 0,
                "share_text": _number(band["share"], 3),
            }
            for band in shift.bands
        ],
    }


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["hostname", "queues", "last_seen"]


def dashboard_view(request: HttpRequest) -> TemplateResponse:
    context = {**admin.site.each_context(request), "title": "Scoring dashboard", **dashboard_figures()}
    return TemplateResponse(request, "admin/scoring/dashboard.html", context)


def _admin_urls(original: Any) -> Any:
    def urls() -> list[Any]:
        return [
            path("scoring/dashboard/", admin.site.admin_view(dashboard_view), name="scoring-dashboard"),
            path("scoring/challenger/", admin.site.admin_view(challenger_view), name="scoring-challenger"),
            *original(),
        ]

    return urls


admin.site.get_urls = _admin_urls(admin.site.get_urls)  # type: ignore[method-assign]
admin.site.site_header = "Credit-risk scoring: back-office"
admin.site.index_title = format_html(
    'Operations · <a href="{}">dashboard</a> · <a href="{}">champion and challenger</a>',
    "/admin/scoring/dashboard/",
    "/admin/scoring/challenger/",
)
