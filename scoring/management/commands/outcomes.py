from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.data import iter_bytes
from ml.file_formats import DataFormatError
from scoring.models import ModelVersion, OutcomeUpload
from scoring.selectors import model_version_get, outcome_listed_rows
from scoring.services.batch_files import UploadTooLargeError
from scoring.services.outcomes import OutcomesBusyError, model_version_performance, outcome_upload_create


class Command(BaseCommand):
    help = (
        "Record observed outcomes of past decisions from a CSV (ID_CLIENT or decision_id, bad, optional date); "
        "every row not applied is listed with the reason. --performance VERSION prints a version's realised "
        "performance instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="The outcome file (local path or s3://), optionally gzip")
        parser.add_argument(
            "--user",
            help="Upload as this user: a client's upload matches its own decisions only "
            "(default: no user, every client's decisions)",
        )
        parser.add_argument("--client", help="Match the ids with this client's decisions only")
        parser.add_argument("--note", default="", help="What the file is (kept with the upload)")
        parser.add_argument("--performance", metavar="VERSION", help="Print the realised performance of VERSION")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON (for machines)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["performance"]:
            if options["file"]:
                raise CommandError("give either a file to upload or --performance VERSION, not both")
            self._performance(options["performance"], options["json"])
            return
        if not options["file"]:
            raise CommandError("name the outcome file to upload (or --performance VERSION)")
        user, client = _user(options["user"], "--user"), _user(options["client"], "--client")
        if user is not None and not user.is_staff and client not in (None, user):
            raise CommandError(f"--user {user.username} is a client: its uploads match its own decisions only")
        try:
            upload = outcome_upload_create(
                content=iter_bytes(options["file"]),
                original_name=Path(options["file"]).name,
                uploaded_by=user,
                channel=OutcomeUpload.Channel.COMMAND,
                note=options["note"],
                decisions_of=client,
            )
        except (DataFormatError, UploadTooLargeError, OutcomesBusyError, OSError) as exc:
            raise CommandError(f"{options['file']}: {exc}") from exc
        self._report(upload, options["json"])

    def _report(self, upload: OutcomeUpload, as_json: bool) -> None:
        listed = list(outcome_listed_rows(upload=upload))
        if as_json:
            rows = [dict(zip(("line", "reference", "kind", "problem"), row, strict=True)) for row in listed]
            self.stdout.write(
                json.dumps(
                    {
                        "id": str(upload.id),
                        "rows": upload.rows,
                        "applied": upload.applied,
                        "counts": upload.counts,
                        "listed": rows,
                    },
                    indent=2,
                )
            )
            return
        counts = ", ".join(f"{n:,} {kind}" for kind, n in upload.counts.items() if n) or "none listed"
        self.stdout.write(
            f"{upload.original_name}: {upload.applied:,} of {upload.rows:,} outcome rows recorded "
            f"({counts}); upload {upload.id}, audit record {upload.sequence}"
        )
        if upload.ignored_columns:
            self.stdout.write(f"columns ignored: {', '.join(upload.ignored_columns)}")
        for line, reference, kind, problem in listed:
            self.stdout.write(f"  line {line} ({reference}): {kind}: {problem}")

    def _performance(self, version: str, as_json: bool) -> None:
        try:
            model_version = model_version_get(version=version)
        except ModelVersion.DoesNotExist:
            raise CommandError(f"no model version {version}") from None
        report = model_version_performance(model_version=model_version)
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(performance_text(report))


def _user(name: str | None, option: str) -> Any:
    if not name:
        return None
    try:
        return get_user_model().objects.get(username=name)
    except get_user_model().DoesNotExist:
        raise CommandError(f"{option}: no user {name}") from None


def _number(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def performance_text(report: dict[str, Any]) -> str:
    """The realised performance as a plain-text report (the command's, and docs/monitoring.md's)."""
    approved, profit = report["approved"], report["profit"]
    lines = [
        f"Realised performance of {report['model_version']} (decline at {report['threshold']:.3f})",
        f"  {report['limit']}",
        f"  decisions: {_number(report['decisions'], ',')}, approved {_number(report['approval_rate'], '.1%')}; "
        f"outcomes: {report['outcomes']:,} ({_number(report['outcome_coverage'], '.1%')} of the approved)",
        f"  bad rate: observed {_number(report['bad_rate'], '.2%')}, predicted {_number(report['expected_bad_rate'], '.2%')}"
        f"; approved: observed {_number(approved['bad_rate'], '.2%')}, predicted "
        f"{_number(approved['expected_bad_rate'], '.2%')}",
        f"  ROC AUC {_number(report['roc_auc'], '.4f')}, Gini {_number(report['gini'], '.4f')}, "
        f"KS {_number(report['ks'], '.4f')} {report['discrimination_note']}".rstrip(),
        f"  profit of {profit['loans']:,} approved loans: realised {profit['realised']:,.0f}, expected "
        f"{profit['expected']:,.0f} (per loan {_number(profit['realised_per_loan'], ',.2f')} against "
        f"{_number(profit['expected_per_loan'], ',.2f')})",
        "  band  outcomes  bads  observed  predicted  95% interval      points     verdict",
    ]
    for band in report["calibration"]:
        points = f"{band['score_low']}-{band['score_high']}" if band["score_low"] is not None else "-"
        lines.append(
            f"  {band['band']:>4}  {band['outcomes']:>8,}  {band['bads']:>4,}  {band['bad_rate']:>8.2%}  "
            f"{band['mean_probability']:>9.2%}  {band['interval_low']:.2%}-{band['interval_high']:.2%}"
            f"  {points:>10}  {band['verdict']}"
        )
    lines.extend(f"  note: {note}" for note in report["notes"])
    return "\n".join(lines)
