"""Population stability reports: today's applicants against the development rows (ml/drift.py).

Two samples can be compared with a model version's reference:

- the decisions made in a time window, single and bulk. A single decision keeps its inputs (its
  ``input_snapshot``). A bulk decision keeps only its result row, so its inputs are read back from
  the uploaded file the job keeps: the chunk's lines are parsed as they were when scored, which gives
  exactly the rows that have a result. A job whose file is gone (or no longer gives those rows)
  counts in the score's index only, and the report says how many rows that is.
- any file of applications, in either data format, scored with the version's compiled scorer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone

from ml import drift, schema
from ml.batch import ChunkSpan, parse_chunk, read_span
from ml.data import frame_from_records, load_applications, parse_applications, read_bytes
from ml.file_formats import DataFormatError, Layout, decode
from ml.registry import ArtifactIntegrityError, load_table, sha256_bytes
from ml.training import drift_reference
from scoring.model_registry import model_version_load
from scoring.models import BatchChunk, BatchResult, DriftReport, ModelVersion, ScoreRequest
from scoring.selectors import model_version_get_active
from scoring.services.batch_files import job_source

logger = logging.getLogger(__name__)

WEEKLY_DAYS = 7
_SNAPSHOT_ROWS = 5000  # single decisions read from the database at a time


class NoDriftReferenceError(ValueError):
    """The model version was trained before references were kept; the message says how to add one."""


def reference_of(model_version: ModelVersion) -> dict[str, Any]:
    if not model_version.drift_reference:
        raise NoDriftReferenceError(
            f"model version {model_version.version} was trained before drift references were kept, so there is "
            f"nothing to compare with; add one with `python manage.py train --add-drift-reference "
            f"{model_version.version}` (it re-reads the training file and takes no new fit)"
        )
    return model_version.drift_reference


def _version(model_version: ModelVersion | None) -> ModelVersion:
    version = model_version or model_version_get_active()
    if version is None:
        raise NoDriftReferenceError("no model version is active; train one first (`python manage.py train`)")
    return version


# -- a file --------------------------------------------------------------------------------------


def drift_report_for_file(*, data_uri: str, model_version: ModelVersion | None = None) -> drift.DriftReport:
    """The stability of the applications in the file at ``data_uri`` (either format, local or s3://).

    Rows with an invalid value are left out, as a bulk job leaves them unscored; the report says how
    many. DataFormatError if the file cannot be read at all.
    """
    version = _version(model_version)
    reference = reference_of(version)
    applications = load_applications(data_uri, strict=False)
    if applications.frame.empty:
        raise DataFormatError(f"no valid application in {data_uri}")
    probability = model_version_load(model_version=version).probability_bad(applications.frame)
    counts = drift.sample_counts(reference, applications.frame, probability)
    notes = [f"{applications.problem_count} rows with an invalid value left out"] if applications.problem_count else []
    return drift.drift_report(reference, counts, source=f"file {data_uri}", used=version.features, notes=notes)


# -- the decisions of a window -------------------------------------------------------------------


def drift_report_for_window(
    *, since: datetime, until: datetime | None = None, model_version: ModelVersion | None = None
) -> drift.DriftReport:
    """The stability of the decisions ``model_version`` (default: the active one) made from ``since``
    to ``until`` (default: now), single and bulk."""
    version = _version(model_version)
    reference = reference_of(version)
    until = until or timezone.now()
    totals: dict[str, np.ndarray] = {}
    single = 0
    for frame, probability in _single_decisions(version, since, until):
        drift.add_counts(totals, drift.sample_counts(reference, frame, probability))
        single += len(frame)
    bulk, without_inputs = _add_bulk_decisions(totals, reference, version, since, until)
    notes = [f"{single:,} single and {bulk:,} bulk decisions by {version.version}"]
    if without_inputs:
        notes.append(
            f"{without_inputs:,} bulk decisions count in the score's index only: their inputs could not "
            "be read back (the uploaded file is gone or changed)"
        )
    others = _decisions_by_other_versions(version, since, until)
    if others:
        notes.append(f"{others:,} decisions by other model versions are not included")
    if not totals:
        totals = {drift.SCORE: np.zeros(len(reference[drift.SCORE]["counts"]), dtype=int)}
        notes.append("no decisions in the window")
    source = f"decisions from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    return drift.drift_report(reference, totals, source=source, used=version.features, notes=notes)


def _single_decisions(
    version: ModelVersion, since: datetime, until: datetime
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    rows = (
        ScoreRequest.objects.filter(
            status=ScoreRequest.Status.DONE, model_version=version, finished_at__gte=since, finished_at__lt=until
        )
        .values_list("input_snapshot", "probability_bad")
        .iterator(chunk_size=_SNAPSHOT_ROWS)
    )
    batch: list[tuple[dict[str, Any], float | None]] = []  # a done request has its probability
    for row in rows:
        batch.append(row)
        if len(batch) == _SNAPSHOT_ROWS:
            yield _frame(batch)
            batch = []
    if batch:
        yield _frame(batch)


def _frame(batch: list[tuple[dict[str, Any], float | None]]) -> tuple[pd.DataFrame, np.ndarray]:
    return frame_from_records([snapshot for snapshot, _ in batch]), np.array([p for _, p in batch], dtype=float)


def _add_bulk_decisions(
    totals: dict[str, np.ndarray], reference: dict[str, Any], version: ModelVersion, since: datetime, until: datetime
) -> tuple[int, int]:
    """Add the bulk decisions of the chunks finished in the window; (rows, rows without inputs)."""
    chunks = BatchChunk.objects.filter(
        status=BatchChunk.Status.DONE, job__model_version=version, finished_at__gte=since, finished_at__lt=until
    ).select_related("job")
    rows = without_inputs = 0
    for chunk in chunks.iterator():
        probability = np.fromiter(
            BatchResult.objects.filter(chunk=chunk).order_by("line").values_list("probability_bad", flat=True),
            dtype=float,
        )
        frame = _chunk_inputs(chunk)
        if frame is None or len(frame) != len(probability):
            drift.add_counts(totals, {drift.SCORE: drift.counts_for(reference[drift.SCORE], probability)})
            without_inputs += len(probability)
        else:
            drift.add_counts(totals, drift.sample_counts(reference, frame, probability))
        rows += len(probability)
    return rows, without_inputs


def _chunk_inputs(chunk: BatchChunk) -> pd.DataFrame | None:
    """The inputs of the chunk's scored rows, parsed from the job's file as when they were scored."""
    job = chunk.job
    span = ChunkSpan(chunk.index, chunk.first_line, chunk.line_count, chunk.byte_start, chunk.byte_end)
    try:
        return parse_chunk(read_span(job_source(job), span), chunk.first_line, Layout.from_dict(job.layout)).frame
    except (OSError, DataFormatError, KeyError) as exc:
        logger.warning("drift: the inputs of chunk %s of job %s cannot be read back: %s", chunk.index, job.pk, exc)
        return None


def _decisions_by_other_versions(version: ModelVersion, since: datetime, until: datetime) -> int:
    single = (
        ScoreRequest.objects.filter(status=ScoreRequest.Status.DONE, finished_at__gte=since, finished_at__lt=until)
        .exclude(model_version=version)
        .count()
    )
    bulk = (
        BatchResult.objects.filter(
            chunk__status=BatchChunk.Status.DONE, chunk__finished_at__gte=since, chunk__finished_at__lt=until
        )
        .exclude(job__model_version=version)
        .count()
    )
    return single + bulk


# -- storing and the periodic report ---------------------------------------------------------------


def drift_report_store(
    *,
    report: drift.DriftReport,
    model_version: ModelVersion,
    source: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DriftReport:
    return DriftReport.objects.create(
        model_version=model_version,
        source=source,
        description=report.source[:500],
        since=since,
        until=until,
        rows=report.rows,
        score_psi=report.score.psi if report.score else None,
        largest_psi=max((s.psi for s in report.inputs), default=None),
        inputs_to_act_on=report.inputs_to_act_on,
        report=report.as_dict(),
    )


def drift_report_weekly(*, now: datetime | None = None) -> DriftReport | None:
    """The last 7 days of the active version's decisions: logged as a table and stored (the admin's
    latest report, the gauges of ``/metrics``). None, with a warning, when there is nothing to compare."""
    until = now or timezone.now()
    since = until - timedelta(days=WEEKLY_DAYS)
    version = model_version_get_active()
    if version is None:
        logger.warning("drift: no model version is active; no report")
        return None
    try:
        report = drift_report_for_window(since=since, until=until, model_version=version)
    except NoDriftReferenceError as exc:
        logger.warning("drift: %s", exc)
        return None
    logger.info("drift report\n%s", report.table())
    return drift_report_store(
        report=report, model_version=version, source=DriftReport.Source.WINDOW, since=since, until=until
    )


# -- a reference for a version trained before they were kept ----------------------------------------


def drift_reference_add(*, model_version: ModelVersion, data_uri: str | None = None) -> ModelVersion:
    """Build the reference a version trained before this change lacks, from its own training rows.

    The training file is read again (refused unless its sha256 is the one recorded), the development
    rows are those not held out (the version's ``holdout_ids``), and the score is the development rows'
    out-of-fold probabilities the version kept (its validation table, checksum verified); a version
    without them falls back to its scorer's own probabilities, which the reference then records.
    """
    raw = read_bytes(data_uri or model_version.data_source)
    if sha256_bytes(raw) != model_version.data_sha256:
        raise NoDriftReferenceError(
            f"{data_uri or model_version.data_source} is not the file {model_version.version} was trained on "
            f"(sha256 differs from {model_version.data_sha256[:12]}...)"
        )
    frame = parse_applications(decode(raw), require_label=True).frame
    # A version refitted on every labelled row (train --refit-all) learnt from all of them.
    seen = frame if model_version.holdout_seen else frame[~frame[schema.ID_COLUMN].isin(model_version.holdout_ids)]
    development = seen.reset_index(drop=True)
    probability, note = _development_probability(model_version, development)
    reference = drift_reference(development[list(schema.FEATURE_NAMES)], probability)
    reference["score_source"] = note
    ModelVersion.objects.filter(pk=model_version.pk).update(drift_reference=reference)
    model_version.refresh_from_db()
    return model_version


def _development_probability(model_version: ModelVersion, development: pd.DataFrame) -> tuple[np.ndarray, str]:
    if model_version.validation_path:
        try:
            table = load_table(
                settings.CREDITRISK_MODEL_DIR / model_version.validation_path, model_version.validation_sha256
            )
        except ArtifactIntegrityError as exc:
            logger.warning("drift: %s; using the scorer's probabilities instead", exc)
        else:
            by_id = table.set_index(schema.ID_COLUMN)["probability_bad"]
            probability = development[schema.ID_COLUMN].map(by_id).to_numpy(dtype=float)
            if not np.isnan(probability).any():
                return probability, "out-of-fold probabilities of the development rows"
    scorer = model_version_load(model_version=model_version)
    return scorer.probability_bad(development), "the scorer's probabilities of the development rows (in-sample)"
