"""Lending simulations: creating a run, the worker's execution, and applying a run's cut-off."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from ml import schema
from ml.data import Applications, parse_applications, read_bytes
from ml.file_formats import DataFormatError, decode
from ml.predict import probability_bad
from ml.registry import ArtifactUnusableError, load_table, sha256_bytes
from ml.simulation import Economics, SimulationReport, simulation_report, threshold_choice_for
from scoring import queues
from scoring.model_registry import (
    NoActiveModelError,
    model_version_for_scoring,
    model_version_load,
    model_version_set_threshold,
    points_scale,
)
from scoring.models import ModelVersion
from simulations.models import SimulationDecision, SimulationRun

DECISION_BATCH = 5000
# The steps simulation_run_execute reports to its ``progress`` callback as each is done.
SIMULATION_STEPS = ("test rows read", "applicants scored", "report computed", "decisions stored")


class SimulationError(RuntimeError):
    """The run cannot be carried out; the message says why and what to do."""


def simulation_run_create(
    *,
    requested_by: AbstractBaseUser | AnonymousUser | None,
    economics: Economics,
    model_version: ModelVersion | None = None,
    upload: bytes | None = None,
    upload_name: str = "",
    data_uri: str | None = None,
    threshold: float | None = None,
    apply_threshold: bool = False,
    bootstrap_samples: int = 1000,
    dispatch: bool = True,
) -> SimulationRun:
    """Store a queued run; the worker is told once it is committed (unless ``dispatch`` is off).

    The test set is ``upload`` (the bytes of a labelled file), or the file at ``data_uri``, or by
    default the rows held out when the model was trained: SimulationError for a version refitted on
    those rows too (``train --refit-all``), whose holdout is no longer unseen.
    """
    model_version = model_version_for_scoring(model_version)
    user = requested_by if isinstance(requested_by, User) and requested_by.is_authenticated else None
    source, data_source = SimulationRun.Source.HOLDOUT, f"holdout of {model_version.version}"
    if upload is not None:
        source, data_source = SimulationRun.Source.FILE, f"upload: {upload_name or 'file'}"
    elif data_uri:
        source, data_source = SimulationRun.Source.FILE, data_uri
    elif model_version.holdout_seen:
        raise SimulationError(holdout_seen_message(model_version))
    with transaction.atomic():
        run = SimulationRun.objects.create(
            requested_by=user,
            model_version=model_version,
            source=source,
            data_source=data_source[:500],
            data_sha256=sha256_bytes(upload) if upload is not None else "",
            economics=economics.as_dict(),
            requested_threshold=threshold,
            apply_threshold=apply_threshold,
            bootstrap_samples=bootstrap_samples,
            dispatched_at=timezone.now() if dispatch else None,
        )
        if upload is not None:
            run.upload_path.parent.mkdir(parents=True, exist_ok=True)
            run.upload_path.write_bytes(upload)
        if dispatch:
            queues.send_on_commit(queues.SIMULATION_RUN, str(run.id))
    return run


def simulation_runs_queued() -> QuerySet[SimulationRun]:
    """Runs waiting for their message, for the sweep (scoring/services/sweep.py): it sends again those
    dispatched longer ago than the stale age whose message it finds neither queued nor held by a worker
    (a run the caller runs itself has no dispatch time and is never sent)."""
    return SimulationRun.objects.filter(status=SimulationRun.Status.QUEUED)


def simulation_upload_check(*, content: bytes) -> None:
    """Refuse at once a file that cannot be read or has no outcomes: DataFormatError says why."""
    parse_applications(decode(content), require_label=True, strict=False)


def simulation_run_execute(*, run_id: Any, progress: Callable[[str], object] | None = None) -> SimulationRun:
    """The worker's part: score the test set, book every decision, store the report. Runs once.

    ``progress`` is called with each of :data:`SIMULATION_STEPS` as it is done.
    """
    step = progress or (lambda _: None)
    claimed = SimulationRun.objects.filter(
        pk=run_id, status__in=[SimulationRun.Status.QUEUED, SimulationRun.Status.RUNNING]
    ).update(status=SimulationRun.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1)
    run = SimulationRun.objects.select_related("model_version").get(pk=run_id)
    if not claimed:
        return run  # already final: a second delivery of the task changes nothing
    try:
        outcome = _simulate(run, step)
    except (SimulationError, DataFormatError, ArtifactUnusableError, NoActiveModelError) as exc:
        return simulation_run_fail(run_id=run.pk, error=str(exc))
    run = simulation_run_finish(run=run, outcome=outcome)
    step(SIMULATION_STEPS[3])
    return run


@dataclass
class SimulationOutcome:
    report: SimulationReport
    threshold: float
    threshold_source: str
    threshold_choice: dict[str, Any]
    data_sha256: str
    warnings: list[str]


def _simulate(run: SimulationRun, step: Callable[[str], object]) -> SimulationOutcome:
    model_version = run.model_version
    economics = Economics.from_dict(run.economics)
    applications, raw_sha256 = _test_applications(run)
    warnings = _warnings(run, applications)
    step(SIMULATION_STEPS[0])
    frame = applications.frame.reset_index(drop=True)
    probability = probability_bad(model_version_load(model_version=model_version), frame)
    scored = frame.assign(probability_bad=probability, score=points_scale().points(probability).round().astype(int))
    step(SIMULATION_STEPS[1])
    threshold, source, choice = _threshold(run, economics)
    report = simulation_report(
        scored,
        threshold=threshold,
        economics=economics,
        n_boot=run.bootstrap_samples,
        random_state=model_version.random_state,
    )
    step(SIMULATION_STEPS[2])
    report.summary.update(rows_skipped=applications.problem_count, rows_read=applications.rows_read)
    return SimulationOutcome(report, threshold, source, choice, raw_sha256, warnings)


def _test_applications(run: SimulationRun) -> tuple[Applications, str]:
    """The labelled test rows, and the sha256 of the file they came from."""
    if run.source == SimulationRun.Source.HOLDOUT:
        return _holdout_applications(run.model_version)
    if run.data_source.startswith("upload:") and not run.upload_path.is_file():
        raise SimulationError(f"the uploaded file is no longer at {run.upload_path}")
    raw = run.upload_path.read_bytes() if run.data_source.startswith("upload:") else read_bytes(run.data_source)
    # A malformed row is left out and counted, not a reason to lose the whole run.
    applications = parse_applications(decode(raw), require_label=True, strict=False)
    if applications.frame.empty:
        raise SimulationError("no valid labelled rows in the file")
    return applications, sha256_bytes(raw)


def _holdout_applications(model_version: ModelVersion) -> tuple[Applications, str]:
    if not model_version.holdout_ids:
        raise SimulationError(f"{model_version.version} was trained without a holdout: give a labelled file")
    if model_version.holdout_seen:
        raise SimulationError(holdout_seen_message(model_version))
    raw = read_bytes(model_version.data_source)
    digest = sha256_bytes(raw)
    if digest != model_version.data_sha256:
        raise SimulationError(
            f"{model_version.data_source} changed since {model_version.version} was trained "
            "(sha256 differs): its holdout cannot be rebuilt; give a labelled file"
        )
    applications = parse_applications(decode(raw), require_label=True)
    frame = applications.frame
    holdout = frame[frame[schema.ID_COLUMN].isin(model_version.holdout_ids)]
    return Applications(holdout, rows_read=len(holdout), file_format=applications.file_format), digest


def holdout_seen_message(model_version: ModelVersion) -> str:
    return (
        f"{model_version.version} was refitted on every labelled row, its holdout included (train --refit-all): "
        "the holdout is no longer unseen, so a simulation on it would flatter the model; give a labelled file of "
        "applicants it never saw"
    )


def validation_predictions(model_version: ModelVersion) -> pd.DataFrame | None:
    """The model's out-of-fold predictions of its development rows, checksum verified; None if not kept."""
    if not model_version.validation_path:
        return None
    path = settings.CREDITRISK_MODEL_DIR / model_version.validation_path
    return load_table(path, model_version.validation_sha256)


def _threshold(run: SimulationRun, economics: Economics) -> tuple[float, str, dict[str, Any]]:
    """The cut-off to decide at, where it comes from, and how it was chosen. Never from the test rows."""
    model_version = run.model_version
    if run.requested_threshold is not None:
        return run.requested_threshold, SimulationRun.ThresholdSource.GIVEN, {}
    if economics.is_default or not model_version.validation_path:
        return model_version.threshold, SimulationRun.ThresholdSource.MODEL, model_version.threshold_choice
    validation = validation_predictions(model_version)
    choice = threshold_choice_for(validation=validation, economics=economics) if validation is not None else None
    if choice is None:
        return model_version.threshold, SimulationRun.ThresholdSource.MODEL, model_version.threshold_choice
    return choice.threshold, SimulationRun.ThresholdSource.VALIDATION, choice.as_dict()


def _warnings(run: SimulationRun, applications: Applications) -> list[str]:
    warnings = []
    if applications.problem_count:
        first = "; ".join(str(p) for p in applications.problems[:3])
        warnings.append(f"{applications.problem_count} rows with invalid values were left out ({first})")
    if run.source == SimulationRun.Source.FILE and run.model_version.validation_path:
        validation = validation_predictions(run.model_version)
        if validation is not None:
            seen = int(applications.frame[schema.ID_COLUMN].isin(validation[schema.ID_COLUMN]).sum())
            if seen:
                warnings.append(
                    f"{seen} of the test rows have the ID_CLIENT of rows {run.model_version.version} "
                    "was fitted on: if they are the same applicants, the result is optimistic"
                )
    if not _threshold_fits_economics(run):
        warnings.append(
            f"{run.model_version.version} kept no validation predictions: the cut-off is its stored "
            "threshold, not one chosen for these economics"
        )
    return warnings


def _threshold_fits_economics(run: SimulationRun) -> bool:
    """False when other economics ask for a cut-off that the model's kept data cannot choose."""
    economics = Economics.from_dict(run.economics)
    return run.requested_threshold is not None or economics.is_default or bool(run.model_version.validation_path)


@transaction.atomic
def simulation_run_finish(*, run: SimulationRun, outcome: SimulationOutcome) -> SimulationRun:
    """Write every decision in bulk and the report; apply the cut-off to the model when asked."""
    run = SimulationRun.objects.select_for_update().get(pk=run.pk)
    if run.is_final:
        return run
    SimulationDecision.objects.filter(run=run).delete()  # a re-delivered task replaces, never duplicates
    _write_decisions(run, outcome.report.decisions)
    report = outcome.report
    run.summary, run.intervals, run.fairness, run.charts = (
        report.summary,
        report.intervals,
        report.fairness,
        report.charts,
    )
    run.threshold, run.threshold_source, run.threshold_choice = (
        outcome.threshold,
        outcome.threshold_source,
        outcome.threshold_choice,
    )
    run.data_sha256, run.warnings = outcome.data_sha256, outcome.warnings
    if run.apply_threshold:
        refused = threshold_refusal(model_version=run.model_version, threshold=run.threshold)
        if refused:
            run.warnings = [*run.warnings, refused]
        else:
            run.threshold_applied = model_version_set_threshold(
                model_version=run.model_version, threshold=run.threshold, choice=_threshold_choice(run)
            )
    run.status, run.finished_at = SimulationRun.Status.DONE, timezone.now()
    run.save()
    return run


def _write_decisions(run: SimulationRun, decisions: pd.DataFrame) -> None:
    rows = decisions.itertuples(index=False, name=None)
    SimulationDecision.objects.bulk_create(
        (
            SimulationDecision(
                run=run,
                row=position,
                external_id=int(external_id),
                probability_bad=float(p),
                score=int(score),
                decision=decision,
                bad=bool(bad),
                exposure=float(exposure),
                profit=float(profit),
            )
            for position, (external_id, p, score, decision, bad, exposure, profit) in enumerate(rows, start=1)
        ),
        batch_size=DECISION_BATCH,
    )


def threshold_refusal(*, model_version: ModelVersion, threshold: float) -> str:
    """Why ``threshold`` cannot become the policy ("" if it can): reasons are measured from the
    reference applicant, so a cut-off at or below its own probability would decline applicants
    less risky than it, who could be given no reason."""
    reference = model_version.reference_probability
    if reference is None or threshold > reference:
        return ""
    return (
        f"the cut-off {threshold:.4f} was not applied: it is at or below the probability of the reference "
        f"applicant that reasons are measured from ({reference:.4f}), so some declined applicants could be "
        "given no reason; train a new version or choose a higher cut-off"
    )


def _threshold_choice(run: SimulationRun) -> dict[str, Any]:
    """How ``run``'s cut-off was chosen, stored with it as the model's policy."""
    return {
        **(run.threshold_choice or {}),
        "threshold": run.threshold,
        "source": run.threshold_source,
        "simulation_run": str(run.id),
        "applied_at": timezone.now().isoformat(),
    }


def simulation_run_fail(*, run_id: Any, error: str) -> SimulationRun:
    """Mark a run that is not final yet as failed, with the reason."""
    SimulationRun.objects.filter(pk=run_id).exclude(status__in=SimulationRun.FINAL_STATUSES).update(
        status=SimulationRun.Status.FAILED, error=error, finished_at=timezone.now()
    )
    return SimulationRun.objects.get(pk=run_id)
