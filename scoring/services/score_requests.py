"""Scoring one applicant: creating the request, the worker's processing, replays."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ml import schema
from ml.data import frame_from_records
from ml.predict import score_and_explain_applications
from ml.registry import ArtifactIntegrityError
from scoring.models import Applicant, ModelVersion, ScoreRequest
from scoring.selectors import model_version_load, points_scale
from scoring.services.audit import chain_append, chain_head_lock
from scoring.services.dispatch import task_publish
from scoring.services.files import NoActiveModelError, model_version_for_scoring


@dataclass(frozen=True)
class ApplicantScore:
    probability_bad: float
    score: int
    decision: str
    reasons: list[dict[str, Any]]
    model_version: ModelVersion
    threshold: float
    scoring_ms: float = field(default=0.0)

    def as_dict(self) -> dict[str, Any]:
        return {"probability_bad": self.probability_bad, "score": self.score, "decision": self.decision,
                "reasons": self.reasons, "model_version": self.model_version.version,
                "threshold": self.threshold}  # fmt: skip


def applicant_score(*, inputs: dict[str, Any], model_version: ModelVersion | None = None) -> ApplicantScore:
    """Probability, points, decision and reasons for one applicant's validated inputs."""
    model_version = model_version_for_scoring(model_version)
    started = time.perf_counter()
    model = model_version_load(model_version=model_version)
    scored = score_and_explain_applications(
        model, frame_from_records([inputs]), reference=model_version.reference_applicant,
        excluded=model_version.excluded_features, scale=points_scale(), threshold=model_version.threshold,
    ).iloc[0]
    return ApplicantScore(
        probability_bad=float(scored["probability_bad"]),
        score=int(scored["score"]),
        decision=str(scored["decision"]),
        reasons=scored["reasons"],
        model_version=model_version,
        threshold=model_version.threshold,
        scoring_ms=(time.perf_counter() - started) * 1000,
    )


def score_request_create(
    *, inputs: dict[str, Any], requested_by: AbstractBaseUser | AnonymousUser | None, channel: str
) -> ScoreRequest:
    """Store the applicant and a queued request and tell the worker, all or nothing.

    The task is published inside the transaction (see ``scoring/services/dispatch.py``): if the
    broker cannot take it, QueueUnavailableError is raised and neither row is kept.
    """
    from scoring.tasks import score_request_process_task  # the task module imports this one

    external_id = inputs.get(schema.ID_COLUMN)
    features = {name: inputs.get(name) for name in schema.FEATURE_NAMES}
    user = requested_by if requested_by is not None and requested_by.is_authenticated else None
    with transaction.atomic():
        applicant = Applicant.objects.create(
            external_id=external_id, **{name.lower(): value for name, value in features.items()}
        )
        request = ScoreRequest.objects.create(
            applicant=applicant,
            requested_by=user,
            channel=channel,
            input_snapshot={schema.ID_COLUMN: external_id, **features},
        )
        task_publish(score_request_process_task, (str(request.id),))  # last: any error before it sends nothing
    return request


def score_request_process(*, score_request_id: str) -> ScoreRequest:
    """The worker's part: score a queued request and append it to the audit chain, exactly once.

    The row is read before it is claimed. The message can arrive before the transaction that stores
    the row commits: read first, a row not yet visible raises DoesNotExist (the task waits and tries
    again), and once it is visible the claim sees it too. Claimed first, a commit landing between
    the two statements made a queued request look already handled, and its message was dropped.
    """
    request = ScoreRequest.objects.get(pk=score_request_id)
    claimed = ScoreRequest.objects.filter(
        pk=score_request_id, status__in=[ScoreRequest.Status.QUEUED, ScoreRequest.Status.RUNNING]
    ).update(status=ScoreRequest.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1)
    request.refresh_from_db()
    if not claimed:
        return request  # already final: a second delivery of the same task changes nothing
    if request.attempts > settings.CREDITRISK_MAX_ATTEMPTS:
        # Each attempt died mid-task (out of memory, killed): stop instead of looping for ever.
        return score_request_finalize(score_request_id=score_request_id,
                                      error=f"given up after {request.attempts - 1} attempts that did not finish")  # fmt: skip
    try:
        result = applicant_score(inputs=request.input_snapshot)
    except (NoActiveModelError, ArtifactIntegrityError) as exc:
        return score_request_finalize(score_request_id=score_request_id, error=str(exc))
    return score_request_finalize(score_request_id=score_request_id, result=result)


@transaction.atomic
def score_request_finalize(
    *, score_request_id: str, result: ApplicantScore | None = None, error: str = ""
) -> ScoreRequest:
    """Write the outcome and chain the record; a request that is already final is left as it is."""
    head = chain_head_lock()
    request = ScoreRequest.objects.select_for_update().get(pk=score_request_id)
    if request.is_final:
        return request
    if result is not None:
        request.status = ScoreRequest.Status.DONE
        request.probability_bad, request.score, request.decision = result.probability_bad, result.score, result.decision
        request.reasons, request.model_version, request.threshold = (
            result.reasons,
            result.model_version,
            result.threshold,
        )
        request.scoring_ms = result.scoring_ms
    else:
        request.status, request.error = ScoreRequest.Status.FAILED, error
    request.finished_at = timezone.now()
    chain_append(head, request, result.model_version.version if result else None)
    request.save()
    head.save()
    return request


def score_request_replay(*, score_request: ScoreRequest, model_version: ModelVersion | None = None) -> ApplicantScore:
    """Score the stored input again (active or named version); the original record is untouched."""
    return applicant_score(inputs=score_request.input_snapshot, model_version=model_version)
