"""Observed outcomes: a lender's file of who repaid, matched with past decisions and kept for good.

How a row finds its decision (``docs/monitoring.md``, "Observed outcomes"):

- ``decision_id``: a single decision's id (a score request's uuid), or a bulk decision's
  ``<job id>:<line>`` (its line in the uploaded file, header counted);
- ``ID_CLIENT``: the **latest** decision for that client among those the upload may see (a single
  decision by when it was made, a bulk one by when its chunk was stored), made on or before the
  outcome's date when the row gives one. Where there are several, the outcome goes to the latest and
  the row is listed as ``ambiguous``: applied, and said so.

What an upload may see: a client's upload, its own decisions only (another client's id is unknown to
it, exactly as an id that does not exist); staff's uploads and the command's, every client's, unless
they name a client (``decisions_of``) whose decisions alone are matched.

One upload at a time (a PostgreSQL advisory lock), so two files cannot both record a first outcome
for the same decision. The upload, its outcomes and its listed rows are one transaction; the upload
is chained into the audit trail last, holding the chain's head only for that one row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
import zlib
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from ml import outcomes as outcome_file
from ml.file_formats import decode
from ml.outcomes import AMBIGUOUS, INVALID, UNKNOWN, DecisionRef, ListedRow, OutcomeRow, Recorded
from ml.performance import realised_performance
from ml.scorecard import APPROVE
from ml.simulation import INCOME_COLUMN, Economics
from scoring.models import (
    BatchJob,
    BatchResult,
    ModelVersion,
    Outcome,
    OutcomeListedRow,
    OutcomeUpload,
    ScoreRequest,
    ShadowScore,
)
from scoring.services.audit import chain_head_lock, chain_link_outcome_upload
from scoring.services.audit_digests import OUTCOME_DIGESTED, listed_digest, outcomes_digest
from scoring.services.batch_files import UploadTooLargeError, upload_size_message

# One outcome upload at a time across every web process (pg_advisory_xact_lock's key).
OUTCOMES_LOCK = zlib.crc32(b"creditrisk.outcomes")


class OutcomesBusyError(RuntimeError):
    """Another outcome file was still being recorded after CREDITRISK_OUTCOMES_LOCK_SECONDS: nothing
    of this one is stored; send it again (the API answers 503 with Retry-After)."""

    retry_after_seconds = 5


_IDS_PER_QUERY = 5000
# Bulk results have no index on ID_CLIENT (one would slow every bulk job's COPY): a lookup reads the
# table once, and PostgreSQL hashes the list, so the fewer lookups the better.
_CLIENTS_PER_QUERY = 50_000


@dataclass(frozen=True)
class _Decision:
    """A decision an outcome can be recorded against."""

    key: Hashable
    score_request_id: uuid.UUID | None
    batch_result_id: int | None
    model_version_id: int
    external_id: int | None
    decided_at: datetime | None


# -- an upload -------------------------------------------------------------------------------------


def outcome_upload_create(
    *,
    content: Iterable[bytes],
    original_name: str,
    uploaded_by: Any,
    channel: str,
    note: str = "",
    decisions_of: Any = None,
) -> OutcomeUpload:
    """Read, match and store a file of outcomes; the upload lists every row it did not apply, and why.

    DataFormatError (nothing stored) when the file cannot be read as outcomes: not text, no usable
    header, no row, too many rows; UploadTooLargeError over the upload limit. ``decisions_of``, for
    staff and the command only, matches the ids with that client's decisions alone.
    """
    data = _read(content)
    text = decode(data, max_size=min(settings.CREDITRISK_MAX_DECOMPRESSED_BYTES, outcome_file_max_bytes()))
    parsed = outcome_file.parse_outcomes(
        text, today=timezone.localdate(), max_rows=settings.CREDITRISK_OUTCOMES_MAX_ROWS
    )
    user = uploaded_by if uploaded_by is not None and uploaded_by.is_authenticated else None
    scope = user if user is not None and not user.is_staff else decisions_of
    with transaction.atomic():
        _one_upload_at_a_time()
        decisions, listed = _match(parsed.rows, scope)
        applied, sorted_out = outcome_file.sort_outcomes(
            parsed.rows, {line: d.key for line, d in decisions.items()}, _recorded(list(decisions.values()))
        )
        applied_lines = {row.line for row in applied}  # "recorded for the latest" only where it was recorded
        listed = [row for row in listed if row.kind != AMBIGUOUS or row.line in applied_lines]
        listed = sorted([*parsed.invalid, *listed, *sorted_out], key=lambda row: (row.line, row.kind != AMBIGUOUS))
        rows = [_outcome(row, decisions[row.line]) for row in applied]  # as OUTCOME_DIGESTED
        upload = OutcomeUpload.objects.create(
            uploaded_by=user,
            decisions_of=scope,
            channel=channel,
            original_name=original_name[:255] or "outcomes",
            note=note[:200],
            size_bytes=len(data),
            file_sha256=hashlib.sha256(data).hexdigest(),
            rows=parsed.lines,
            applied=len(rows),
            counts=_counts(listed),
            ignored_columns=parsed.ignored_columns,
            outcomes_sha256=outcomes_digest(rows),
            listed_sha256=listed_digest((r.line, r.reference[:200], r.kind, r.problem) for r in listed),
        )
        _insert(Outcome, ("upload_id", *OUTCOME_DIGESTED), [(upload.pk, *row) for row in rows])
        _insert(
            OutcomeListedRow,
            ("upload_id", "line", "reference", "kind", "problem"),
            [(upload.pk, r.line, r.reference[:200], r.kind, r.problem) for r in listed],
        )
        # Chained last: the chain's head, which every decision shares, is held for this one row only.
        head = chain_head_lock()
        chain_link_outcome_upload(head, upload)
        upload.save(update_fields=["sequence", "previous_hash", "record_hash", "audit_key_id"])
        head.save()
    return upload


def _one_upload_at_a_time() -> None:
    """Wait for any other upload to be recorded, for at most CREDITRISK_OUTCOMES_LOCK_SECONDS."""
    if connection.vendor != "postgresql":
        return
    seconds = settings.CREDITRISK_OUTCOMES_LOCK_SECONDS
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{max(1, round(seconds * 1000))}ms"])
        try:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OUTCOMES_LOCK])
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) != "55P03":  # lock_not_available
                raise
            raise OutcomesBusyError(
                f"another outcome file is still being recorded after {seconds:g} seconds; nothing of this one was "
                f"stored, send it again in {OutcomesBusyError.retry_after_seconds} seconds"
            ) from exc
        cursor.execute("SELECT set_config('lock_timeout', '0', true)")  # the rest of the transaction: no bound


def _insert(model: Any, fields: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Rows in one statement: COPY on PostgreSQL (Django's bulk_create spends 100 µs a row preparing
    values), a bulk INSERT elsewhere. No text value here is empty, so an empty CSV field is NULL."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create((model(**dict(zip(fields, row, strict=True))) for row in rows), batch_size=2000)
        return
    buffer = io.StringIO()
    csv.writer(buffer).writerows(["" if value is None else value for value in row] for row in rows)
    buffer.seek(0)
    column = {field.attname: field.column for field in model._meta.concrete_fields}
    columns = ", ".join(column[name] for name in fields)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY {model._meta.db_table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '')", buffer
        )


# An outcome file is read whole in the request: its bytes, sent or once gzip is undone, are bounded by its
# rows (generously: a row is an id, 0 or 1 and a date, and a lender's export may carry other columns).
_BYTES_PER_ROW = 1024


def outcome_file_max_bytes() -> int:
    return int(settings.CREDITRISK_OUTCOMES_MAX_ROWS) * _BYTES_PER_ROW


def _read(content: Iterable[bytes]) -> bytes:
    pieces, size = [], 0
    limit = min(settings.CREDITRISK_MAX_UPLOAD_BYTES, outcome_file_max_bytes())
    for piece in content:
        size += len(piece)
        if size > settings.CREDITRISK_MAX_UPLOAD_BYTES:
            raise UploadTooLargeError(upload_size_message())
        if size > limit:
            raise UploadTooLargeError(
                f"an outcome file holds at most {settings.CREDITRISK_OUTCOMES_MAX_ROWS:,} rows "
                f"(CREDITRISK_OUTCOMES_MAX_ROWS), so at most {limit:,} bytes; split it"
            )
        pieces.append(piece)
    return b"".join(pieces)


def _counts(listed: list[ListedRow]) -> dict[str, int]:
    counts = {kind: 0 for kind in outcome_file.KINDS}
    for row in listed:
        counts[row.kind] += 1
    return counts


def _outcome(row: OutcomeRow, decision: _Decision) -> tuple[Any, ...]:
    """An outcome's values, in the order of OUTCOME_DIGESTED."""
    return (
        row.line,
        decision.score_request_id,
        decision.batch_result_id,
        decision.model_version_id,
        decision.external_id,
        row.bad,
        row.observed_on,
    )


# -- matching rows with decisions ------------------------------------------------------------------


def _match(rows: list[OutcomeRow], scope: Any) -> tuple[dict[int, _Decision], list[ListedRow]]:
    """Each row's decision by line, and the rows listed instead (unknown, invalid) or besides (ambiguous)."""
    by_id = [row for row in rows if row.decision is None]
    by_decision = [row for row in rows if row.decision is not None]
    decisions: dict[int, _Decision] = {}
    listed: list[ListedRow] = []
    found = _decisions_by_ref([row.decision for row in by_decision if row.decision], scope)
    for row in by_decision:
        assert row.decision is not None  # the rows that name a decision, each found or explained
        decision = found[row.decision]
        if isinstance(decision, str):
            listed.append(ListedRow(row.line, row.reference, UNKNOWN, decision))
        elif row.id_client is not None and decision.external_id != row.id_client:
            listed.append(
                ListedRow(
                    row.line,
                    row.reference,
                    INVALID,
                    f"ID_CLIENT {row.id_client} is not the decision's ({decision.external_id}); nothing is recorded",
                )
            )
        else:
            decisions[row.line] = decision
    latest = _latest_by_client({row.id_client for row in by_id if row.id_client is not None}, scope)
    for row in by_id:
        candidates = latest.get(row.id_client, [])  # type: ignore[arg-type]
        if not candidates:
            listed.append(
                ListedRow(row.line, row.reference, UNKNOWN, f"no decision {_whose(scope)}has ID_CLIENT {row.id_client}")
            )
            continue
        if row.observed_on:  # an outcome observed on a date belongs to a decision made by then
            made = [d for d in candidates if d.decided_at is None or d.decided_at.date() <= row.observed_on]
            if not made:
                listed.append(
                    ListedRow(
                        row.line,
                        row.reference,
                        INVALID,
                        f"date {row.observed_on} is before every "
                        f"decision {_whose(scope)}for this ID_CLIENT (the first: "
                        f"{_label(candidates[-1])}); nothing is recorded",
                    )
                )
                continue
            candidates = made
        decisions[row.line] = candidates[0]
        if len(candidates) > 1:
            listed.append(
                ListedRow(
                    row.line,
                    row.reference,
                    AMBIGUOUS,
                    f"{len(candidates)} decisions {_whose(scope)}"
                    f"have this ID_CLIENT{' by that date' if row.observed_on else ''}; the outcome is "
                    f"recorded for the latest ({_label(candidates[0])}); send decision_id to choose "
                    "another",
                )
            )
    return _dated(by_decision, decisions, listed)


def _dated(
    rows: list[OutcomeRow], decisions: dict[int, _Decision], listed: list[ListedRow]
) -> tuple[dict[int, _Decision], list[ListedRow]]:
    """A decision id's outcome observed before the decision was made is listed, not applied."""
    for row in rows:
        decision = decisions.get(row.line)
        if decision and row.observed_on and decision.decided_at and row.observed_on < decision.decided_at.date():
            del decisions[row.line]
            listed.append(
                ListedRow(
                    row.line,
                    row.reference,
                    INVALID,
                    f"date {row.observed_on} is before the decision ({_label(decision)}); nothing is recorded",
                )
            )
    return decisions, listed


def _whose(scope: Any) -> str:
    return "" if scope is None else f"of {scope.get_username()} "


def _label(decision: _Decision) -> str:
    when = f" of {decision.decided_at:%Y-%m-%d %H:%M} UTC" if decision.decided_at else ""
    if decision.score_request_id:
        return f"decision {decision.score_request_id}{when}"
    return f"bulk decision {decision.key[1]}{when}"  # type: ignore[index]


_SINGLE = ("id", "model_version_id", "applicant__external_id", "finished_at", "status")
_BULK = ("id", "job_id", "line", "job__model_version_id", "external_id", "chunk__finished_at")


def _single(values: tuple[Any, ...]) -> _Decision:
    pk, version, external_id, finished_at, _ = values
    return _Decision(("request", pk), pk, None, version, external_id, finished_at)


def _bulk(values: tuple[Any, ...]) -> _Decision:
    pk, job_id, line, version, external_id, finished_at = values
    return _Decision(("bulk", f"{job_id}:{line}"), None, pk, version, external_id, finished_at)


def _singles(scope: Any) -> Any:
    queryset = ScoreRequest.objects.all()
    return queryset if scope is None else queryset.filter(requested_by=scope)


def _bulks(scope: Any) -> Any:
    queryset = BatchResult.objects.all()
    return queryset if scope is None else queryset.filter(job__uploaded_by=scope)


def _decisions_by_ref(refs: list[DecisionRef], scope: Any) -> dict[DecisionRef, _Decision | str]:
    """Each decision id's decision, or why there is none."""
    found: dict[DecisionRef, _Decision | str] = {}
    request_ids = sorted({ref.request_id for ref in refs if ref.request_id})
    for ids in _batches(request_ids):
        for values in _singles(scope).filter(pk__in=ids).values_list(*_SINGLE):
            decision, status = _single(values), values[-1]
            done = status == ScoreRequest.Status.DONE and decision.model_version_id is not None
            found[DecisionRef(request_id=decision.score_request_id)] = (
                decision if done else f"this score request has no decision (it is {status})"
            )
    lines_by_job: dict[Any, set[int]] = {}
    for ref in refs:
        if ref.job_id:
            lines_by_job.setdefault(ref.job_id, set()).add(ref.line)  # type: ignore[arg-type]
    for job_id, lines in lines_by_job.items():
        for batch in _batches(sorted(lines)):
            # The range lets PostgreSQL read one stretch of the (job, line) index, not the job's every row.
            results = _bulks(scope).filter(job_id=job_id, line__gte=batch[0], line__lte=batch[-1], line__in=batch)
            for values in results.values_list(*_BULK):
                found[DecisionRef(job_id=values[1], line=values[2])] = _bulk(values)
    jobs = set(
        BatchJob.objects.filter(pk__in={ref.job_id for ref in refs if ref.job_id})
        .filter(**({} if scope is None else {"uploaded_by": scope}))
        .values_list("pk", flat=True)
    )
    for ref in refs:
        if ref in found:
            continue
        if ref.job_id in jobs:
            found[ref] = (
                f"bulk job {ref.job_id} has no decision on line {ref.line} (the line held an invalid row, "
                "was not scored, or is past the end of the file)"
            )
        else:
            kind = "score request or bulk job" if ref.request_id else "bulk job"
            found[ref] = f"no {kind} {_whose(scope)}has this id"
    return found


def _latest_by_client(ids: set[int], scope: Any) -> dict[int, list[_Decision]]:
    """Each ID_CLIENT's decisions, single and bulk, the latest first."""
    by_client: dict[int, list[_Decision]] = {}
    for batch in _batches(sorted(ids), _CLIENTS_PER_QUERY):
        singles = (
            _singles(scope)
            .filter(status=ScoreRequest.Status.DONE, model_version__isnull=False, applicant__external_id__in=batch)
            .values_list(*_SINGLE)
        )
        bulk = _bulks(scope).filter(external_id__in=batch).values_list(*_BULK)
        for decision in [*map(_single, singles), *map(_bulk, bulk)]:
            by_client.setdefault(decision.external_id, []).append(decision)  # type: ignore[arg-type]
    earliest = timezone.now().replace(year=1)
    for decisions in by_client.values():
        decisions.sort(key=lambda d: (d.decided_at or earliest, str(d.key)), reverse=True)
    return by_client


def _batches(values: list[Any], size: int = _IDS_PER_QUERY) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _recorded(decisions: list[_Decision]) -> dict[Hashable, Recorded]:
    """The outcomes already on record for these decisions, by decision."""
    recorded: dict[Hashable, Recorded] = {}
    by_request = {d.score_request_id: d.key for d in decisions if d.score_request_id}
    by_result = {d.batch_result_id: d.key for d in decisions if d.batch_result_id}
    uploads: dict[Any, str] = {}
    for field, keys in (("score_request_id", by_request), ("batch_result_id", by_result)):
        for ids in _batches(list(keys)):
            rows = list(Outcome.objects.filter(**{f"{field}__in": ids}).values_list(field, "bad", "line", "upload_id"))
            named = {row[3] for row in rows} - uploads.keys()
            for upload in OutcomeUpload.objects.only("original_name", "created_at").filter(pk__in=named):
                uploads[upload.pk] = f"{upload.original_name}, uploaded {upload.created_at:%Y-%m-%d %H:%M} UTC"
            for decision, bad, line, upload_id in rows:
                recorded[keys[decision]] = Recorded(bad, f"line {line} of {uploads[upload_id]}")
    return recorded


# -- realised performance --------------------------------------------------------------------------


def model_version_performance(*, model_version: ModelVersion) -> dict[str, Any]:
    """How the version's decisions with an outcome turned out (``ml.performance.realised_performance``),
    under the economics its cut-off was chosen for (the simulation's defaults where it kept none)."""
    outcomes = list(
        Outcome.objects.filter(model_version=model_version)
        .annotate(
            probability=Coalesce("score_request__probability_bad", "batch_result__probability_bad"),
            points=Coalesce("score_request__score", "batch_result__score"),
            verdict=Coalesce("score_request__decision", "batch_result__decision"),
        )
        .values_list("probability", "points", "verdict", "bad", f"score_request__input_snapshot__{INCOME_COLUMN}")
    )
    probability, points, verdict, bad, income = (
        (list(column) for column in zip(*outcomes, strict=True)) if outcomes else ([], [], [], [], [])
    )
    economics = version_economics(model_version)
    approved = np.array([v == APPROVE for v in verdict], dtype=bool)
    incomes = np.array([value if isinstance(value, (int, float)) else np.nan for value in income], dtype=float)
    counts = decision_counts(model_version=model_version)
    report = realised_performance(
        probability,
        np.array(bad, dtype=bool),
        approved,
        economics=economics,
        exposure=economics.exposures(incomes, len(outcomes)),
        score=points,
        decisions=sum(counts.values()),
        approved_decisions=counts.get(APPROVE, 0),
    )
    notes = []
    if economics.income_multiple is not None and np.isnan(incomes[approved]).any():
        notes.append(
            f"{int(np.isnan(incomes[approved]).sum()):,} approved loans are booked at the fixed exposure "
            "of the economics: a bulk decision does not keep the applicant's income"
        )
    uploads = OutcomeUpload.objects.filter(outcomes__model_version=model_version).distinct().count()
    return {
        "model_version": model_version.version,
        "threshold": model_version.threshold,
        "uploads": uploads,
        "notes": notes,
        **report,
    }


def version_economics(model_version: ModelVersion) -> Economics:
    """The economics the version's cut-off was chosen for; the simulation's defaults if it kept none."""
    try:
        return Economics.from_dict((model_version.threshold_choice or {}).get("economics") or {})
    except (TypeError, ValueError):
        return Economics()


def decision_counts(*, model_version: ModelVersion) -> dict[str, int]:
    """Every decision the version made, single and bulk, by decision (approve, decline)."""
    counts: dict[str, int] = {}
    singles = (
        ScoreRequest.objects.filter(status=ScoreRequest.Status.DONE, model_version=model_version)
        .values_list("decision")
        .annotate(n=Count("pk"))
        .order_by()
    )
    bulk = BatchResult.objects.filter(job__model_version=model_version).values_list("decision").annotate(n=Count("pk"))
    for decision, n in [*singles, *bulk.order_by()]:
        counts[decision] = counts.get(decision, 0) + n
    return counts


def outcome_versions() -> list[dict[str, Any]]:
    """Model versions with outcomes on record: the version, its outcomes and bads (the admin's index)."""
    rows = (
        Outcome.objects.values("model_version__version", "model_version_id")
        .annotate(outcomes=Count("pk"), bads=Count("pk", filter=Q(bad=True)))
        .order_by("-model_version_id")
    )
    return [
        {
            "version": r["model_version__version"],
            "pk": r["model_version_id"],
            "outcomes": r["outcomes"],
            "bads": r["bads"],
        }
        for r in rows
    ]


# -- champion and challenger on the same decisions -------------------------------------------------

_SHADOWED = ("champion_probability", "champion_score", "champion_decision", "probability_bad", "score", "decision")
SWAP_IN_LIMIT = (
    "Both models are measured on the same decisions with an outcome: the champion's approved applicants (and "
    "those lent to despite its decline). The challenger's swap-in set, which the champion declined, has almost "
    "none, so how the challenger's extra approvals would repay stays unknown; its figures describe how it "
    "ranks the applicants the champion let in."
)


def shadowed_performance(
    *, shadows: QuerySet[ShadowScore], champion: ModelVersion, challenger: ModelVersion
) -> dict[str, Any] | None:
    """The realised performance of both versions on the scored shadow rows whose decision has an outcome,
    each at its own decisions and cut-off; None when none has one."""
    rows = list(
        shadows.filter(score_request__outcome__isnull=False).values_list(*_SHADOWED, "score_request__outcome__bad")
    )
    # A bulk line's outcome, joined in the database: a job of a million lines with a few outcomes reads a few rows.
    bulk_outcome = Outcome.objects.filter(batch_result__job_id=OuterRef("job_id"), batch_result__line=OuterRef("line"))
    rows += (
        shadows.filter(job__isnull=False, line__isnull=False)
        .annotate(outcome_bad=Subquery(bulk_outcome.values("bad")[:1]))
        .filter(outcome_bad__isnull=False)
        .values_list(*_SHADOWED, "outcome_bad")
    )
    if not rows:
        return None
    champion_p, champion_points, champion_decision, challenger_p, challenger_points, challenger_decision, bad = (
        np.array(column) for column in zip(*rows, strict=True)
    )
    champion_approves, challenger_approves = champion_decision == APPROVE, challenger_decision == APPROVE
    return {
        "outcomes": len(rows),
        "swap_in_with_outcome": int((challenger_approves & ~champion_approves).sum()),
        "swap_out_with_outcome": int((champion_approves & ~challenger_approves).sum()),
        "champion": realised_performance(
            champion_p.astype(float),
            bad.astype(bool),
            champion_approves,
            economics=version_economics(champion),
            score=champion_points,
        ),
        "challenger": realised_performance(
            challenger_p.astype(float),
            bad.astype(bool),
            challenger_approves,
            economics=version_economics(challenger),
            score=challenger_points,
        ),
        "limit": SWAP_IN_LIMIT,
    }
