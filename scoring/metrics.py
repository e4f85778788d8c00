"""The service's metrics read from the database at scrape time (decisions, drift), and ``GET /metrics``
that serves them beside the web processes' counters (``creditrisk/metrics.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotAllowed
from django.utils.crypto import constant_time_compare
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from creditrisk.metrics import CONTENT_TYPE, exposition
from scoring.selectors import drift_report_latest, score_request_decision_counts


class DecisionCollector:
    """``creditrisk_decisions_total{decision, channel}``, counted in the audit records at scrape time."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "creditrisk_decisions", "Final score requests by decision and channel", labels=["decision", "channel"]
        )
        for (decision, channel), count in sorted(score_request_decision_counts().items()):
            family.add_metric([decision, channel], count)
        yield family


class DriftCollector:
    """``creditrisk_drift_psi{input}``: the latest periodic stability report (the last 7 days of decisions
    against the active version's development rows), read from the database at scrape time, so every
    web process answers the same. ``input="score"`` is the score's PSI; the others are the inputs' CSI
    (column names, upper case). No report yet, or an input with no rows in it: no sample (never a 0
    that would read "stable")."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        psi = GaugeMetricFamily(
            "creditrisk_drift_psi",
            "Population stability index against the development rows (0.1-0.25 watch, above 0.25 act)",
            labels=["input"],
        )
        created = GaugeMetricFamily(
            "creditrisk_drift_report_timestamp_seconds", "When the latest stability report was made (Unix time)"
        )
        rows = GaugeMetricFamily("creditrisk_drift_report_rows", "Decisions the latest stability report covers")
        latest = drift_report_latest()
        if latest is not None:
            report = latest.report
            for row in [*([report["score"]] if report.get("score") else []), *report.get("inputs", [])]:
                if row["rows"]:
                    psi.add_metric([row["name"]], row["psi"])
            created.add_metric([], latest.created_at.timestamp())
            rows.add_metric([], latest.rows)
        yield from (psi, created, rows)


# -- The endpoint -------------------------------------------------------------------------------


def metrics_view(request: Any) -> Any:
    """``GET /metrics``. Meant for a scraper on the internal network; with ``METRICS_TOKEN`` set, only
    ``Authorization: Bearer <token>`` is answered. No label carries a secret, a user or an applicant."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    token = settings.METRICS_TOKEN
    if token and not constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}"):
        response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(DecisionCollector(), DriftCollector()), content_type=CONTENT_TYPE)
