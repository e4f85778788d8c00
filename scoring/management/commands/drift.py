from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ml import drift
from ml.file_formats import DataFormatError
from ml.registry import ArtifactUnusableError
from scoring.models import DriftReport, ModelVersion
from scoring.selectors import model_version_get, model_version_get_active
from scoring.services.drift import (
    WEEKLY_DAYS,
    NoDriftReferenceError,
    drift_report_for_file,
    drift_report_for_window,
    drift_report_store,
)


class Command(BaseCommand):
    help = (
        "Population stability: the score's PSI and every input's CSI against the development rows, for a file "
        "of applications (--data) or the decisions made since a date (default: the last 7 days)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", help="A file of applications, either format (local path or s3://)")
        parser.add_argument("--since", help="Decisions made from this date or time (UTC, ISO 8601)")
        parser.add_argument("--until", help="... up to this date or time (default: now)")
        parser.add_argument("--model", help="The model version to compare with (default: the active one)")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON (for machines)")
        parser.add_argument("--store", action="store_true", help="Also store it (admin's drift reports)")
        parser.add_argument("--figures", type=Path, help="Also write its charts (PNG) into this folder")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["data"] and (options["since"] or options["until"]):
            raise CommandError("give either --data or a window (--since/--until), not both")
        version = self._version(options["model"])
        since, until = None, None
        try:
            if options["data"]:
                report = drift_report_for_file(data_uri=options["data"], model_version=version)
            else:
                until = _moment(options["until"], "--until") if options["until"] else timezone.now()
                since = _moment(options["since"], "--since") if options["since"] else until - timedelta(WEEKLY_DAYS)
                report = drift_report_for_window(since=since, until=until, model_version=version)
        except (NoDriftReferenceError, DataFormatError, ArtifactUnusableError) as exc:
            raise CommandError(str(exc)) from exc
        if options["store"]:
            source = DriftReport.Source.FILE if options["data"] else DriftReport.Source.WINDOW
            drift_report_store(report=report, model_version=version, source=source, since=since, until=until)
        if options["figures"]:
            name = _figure_name(options["data"])
            for path in write_figures(report, options["figures"], name, f"{name} against {version.version}"):
                self.stderr.write(f"wrote {path}")
        if options["json"]:
            self.stdout.write(json.dumps({"model_version": version.version, **report.as_dict()}, indent=2))
        else:
            self.stdout.write(f"Against the development rows of {version.version}\n{report.table()}")

    def _version(self, name: str | None) -> ModelVersion:
        if name:
            try:
                return model_version_get(version=name)
            except ModelVersion.DoesNotExist:
                raise CommandError(f"no model version {name}") from None
        active = model_version_get_active()
        if active is None:
            raise CommandError("no model version is active; train one first (python manage.py train)")
        return active


def _moment(text: str, option: str) -> datetime:
    """A date (its midnight) or a date and time, in UTC unless it says otherwise."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"{option} {text!r} is not a date (YYYY-MM-DD) or date and time (ISO 8601)")
        moment = datetime.combine(day, time())
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _figure_name(data: str | None) -> str:
    """``prediction-data`` for ``PAKDD2010_Prediction_Data.txt``; ``decisions`` for a window."""
    if not data:
        return "decisions"
    stem = re.sub(r"^pakdd2010_", "", Path(data).name.split(".")[0].lower())
    return re.sub(r"[^a-z0-9]+", "-", stem).strip("-") or "file"


def write_figures(report: drift.DriftReport, folder: Path, name: str, title: str) -> list[Path]:
    from ml.drift_plots import bins_chart, psi_chart  # matplotlib: only when charts are asked for

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, chart in (("psi", psi_chart), ("bins", bins_chart)):
        path = folder / f"drift-{name}-{suffix}.png"
        path.write_bytes(chart(report, title))
        written.append(path)
    return written
