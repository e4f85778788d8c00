"""The back-office view of lending simulations: read-only runs with their report and charts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from api.exports import csv_rows
from backoffice.admin import ReadOnlyAdmin
from backoffice.display import key_value_table, probability_text
from ml.simulation import LIMITS
from ml.simulation_plots import CHART_NAMES
from scoring.model_registry import NoActiveModelError, points_scale
from simulations.forms import CUT_OFF_FIELDS, DATA_FIELDS, ECONOMICS_FIELDS, SimulationStartForm
from simulations.models import SimulationDecision, SimulationRun
from simulations.reports import chart_png, describe_economics
from simulations.selectors import DECISION_COLUMNS, simulation_decision_rows
from simulations.services import SimulationError, simulation_run_create


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@admin.register(SimulationRun)
class SimulationRunAdmin(ReadOnlyAdmin):
    list_display = [
        "short_id",
        "created_at",
        "model_version",
        "source",
        "status",
        "cut_off",
        "approval_rate",
        "profit",
        "uplift_captured",
        "requested_by",
    ]
    list_filter = ["status", "source", "model_version", "created_at"]
    list_select_related = ["model_version", "requested_by"]
    date_hierarchy = "created_at"
    change_form_template = "admin/simulations/simulationrun/change_form.html"
    readonly_fields = [
        "id",
        "status",
        "model_version",
        "requested_by",
        "source",
        "data_source",
        "data_sha256",
        "economics_in_words",
        "cut_off",
        "threshold_source",
        "threshold_choice_table",
        "apply_threshold",
        "threshold_applied",
        "warnings_list",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "attempts",
    ]
    fields = tuple(readonly_fields)

    @admin.display(description="simulation")
    def short_id(self, run: SimulationRun) -> str:
        return str(run.id)[:8]

    @admin.display(description="cut-off", ordering="threshold")
    def cut_off(self, run: SimulationRun) -> str:
        return probability_text(run.threshold)

    @admin.display(description="economics")
    def economics_in_words(self, run: SimulationRun) -> str:
        return describe_economics(run.economics)

    @admin.display(description="approval rate")
    def approval_rate(self, run: SimulationRun) -> str:
        return _share(run.summary.get("approval_rate"))

    @admin.display(description="profit")
    def profit(self, run: SimulationRun) -> str:
        value = run.summary.get("profit")
        return "-" if value is None else f"{value:,.0f}"

    @admin.display(description="share of the oracle's uplift")
    def uplift_captured(self, run: SimulationRun) -> str:
        return _share(run.summary.get("uplift_captured"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_model_permission(request, "add")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """The add page starts a run: stored by the service and queued for a worker, as the API does."""
        self.add_view_checked(request)
        form = SimulationStartForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            values = form.cleaned_data
            try:
                run = simulation_run_create(
                    requested_by=request.user,
                    economics=values["economics"],
                    model_version=values["model_version"],
                    upload=form.upload,
                    upload_name=form.upload_name,
                    threshold=values["threshold"],
                    apply_threshold=values["apply_threshold"],
                    bootstrap_samples=values["bootstrap_samples"],
                )
            except (NoActiveModelError, SimulationError) as exc:
                form.add_error(None, str(exc))
            else:
                form.discard_kept_upload()
                self.message_user(
                    request,
                    f"Simulation {str(run.id)[:8]} is queued: this page shows its report when the worker is done.",
                    messages.SUCCESS,
                )
                return redirect("admin:simulations_simulationrun_change", run.pk)
        if form.errors:
            form.keep_upload()
        groups = [("Data", DATA_FIELDS), ("Cut-off", CUT_OFF_FIELDS), ("Economics", ECONOMICS_FIELDS)]
        context = {
            **self.admin_site.each_context(request),
            "title": "Start a lending simulation",
            "form": form,
            "opts": self.model._meta,
            "groups": [(title, [form[name] for name in names]) for title, names in groups],
        }
        return TemplateResponse(
            request, "admin/simulations/simulationrun/start.html", context, status=400 if form.errors else 200
        )

    @admin.display(description="how the cut-off was chosen")
    def threshold_choice_table(self, run: SimulationRun) -> str:
        return key_value_table(run.threshold_choice)

    @admin.display(description="warnings")
    def warnings_list(self, run: SimulationRun) -> str:
        if not run.warnings:
            return "none"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in run.warnings)))

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "<uuid:run_id>/chart/<str:name>.png",
                self.admin_site.admin_view(self.chart_view),
                name="simulations_simulationrun_chart",
            ),
            path(
                "<uuid:run_id>/decisions.csv",
                self.admin_site.admin_view(self.decisions_view),
                name="simulations_simulationrun_decisions",
            ),
        ]
        return own + super().get_urls()

    def _run(self, request: HttpRequest, run_id: Any) -> SimulationRun:
        run = self.get_object(request, str(run_id))
        if run is None or not self.has_view_permission(request, run) or run.status != SimulationRun.Status.DONE:
            raise Http404("No finished simulation has this id.")
        return run

    def chart_view(self, request: HttpRequest, run_id: Any, name: str) -> HttpResponse:
        if name not in CHART_NAMES:
            raise Http404("No such chart.")
        return HttpResponse(chart_png(self._run(request, run_id), name, points_scale()), content_type="image/png")

    def decisions_view(self, request: HttpRequest, run_id: Any) -> StreamingHttpResponse:
        run = self._run(request, run_id)
        response = StreamingHttpResponse(
            csv_rows(DECISION_COLUMNS, simulation_decision_rows(run=run)), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="simulation-{run.id}-decisions.csv"'
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        run = self.get_object(request, object_id)
        context = {**(extra_context or {}), "run": run, "limits": LIMITS}
        if run is not None and run.status == SimulationRun.Status.DONE:
            context["charts"] = [
                reverse("admin:simulations_simulationrun_chart", args=[run.pk, name]) for name in CHART_NAMES
            ]
            context["decisions_url"] = reverse("admin:simulations_simulationrun_decisions", args=[run.pk])
            context["rows"] = _summary_rows(run)
            context["shares"] = {
                "approval_rate": _share(run.summary["approval_rate"]),
                "captured": _share(run.summary["uplift_captured"]),
                "captured_low": _share(run.intervals["uplift_captured"]["low"]),
                "captured_high": _share(run.intervals["uplift_captured"]["high"]),
                "hindsight": _share(run.summary["hindsight_uplift_captured"]),
            }
        return super().change_view(request, object_id, form_url, extra_context=context)


def _summary_rows(run: SimulationRun) -> list[tuple[str, str, str, str]]:
    """The policy beside the two references, as the report's first table."""
    s = run.summary

    def money(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    return [
        ("applicants approved", f"{s['approved']:,}", f"{s['applicants']:,}", f"{s['approved_oracle']:,}"),
        ("profit", money(s["profit"]), money(s["profit_approve_all"]), money(s["profit_oracle"])),
        (
            "profit per applicant",
            f"{s['profit_per_applicant']:.2f}",
            f"{s['profit_per_applicant_approve_all']:.2f}",
            f"{s['profit_per_applicant_oracle']:.2f}",
        ),
        ("bad rate among approved", _share(s["bad_rate_approved"]), _share(s["bad_rate"]), _share(0.0)),
    ]


@admin.register(SimulationDecision)
class SimulationDecisionAdmin(ReadOnlyAdmin):
    list_display = ["run_link", "row", "external_id", "probability", "score", "decision", "bad", "exposure", "profit"]
    list_filter = ["decision", "bad"]
    search_fields = ["external_id", "=run__id"]
    list_select_related = ["run"]

    @admin.display(description="simulation")
    def run_link(self, decision: SimulationDecision) -> str:
        url = reverse("admin:simulations_simulationrun_change", args=[decision.run_id])
        return format_html('<a href="{}">{}</a>', url, str(decision.run_id)[:8])

    @admin.display(description="probability of default", ordering="probability_bad")
    def probability(self, decision: SimulationDecision) -> str:
        return probability_text(decision.probability_bad)
