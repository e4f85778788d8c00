"""Scoring one applicant: creating the request, the worker's processing, replays."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import connection, transaction
from django.utils import timezone

from ml import schema
from ml.predict import score_and_explain_one
from ml.registry import ArtifactUnusableError
from scoring import queues
from scoring.model_registry import NoActiveModelError, model_version_for_scoring, model_version_load, points_scale
from scoring.models import Applicant, ModelVersion, ScoreRequest
from scoring.services.audit import chain_append, chain_head_lock
from scoring.services.challenger import shadow_score_request
from scoring.services.commits import commit_without_waiting_for_the_disk
from scoring.services.waiting import final_listen, final_signal_available


@dataclass(frozen=True)
class ApplicantScore:
    probability_bad: float
    score: int
    decision: str
    reasons: list[dict[str, Any]]
    model_version: ModelVersion
    threshold: float
    scoring_ms: float = field(default=0.0)
    missing_inputs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "probability_bad": self.probability_bad,
            "score": self.score,
            "decision": self.decision,
            "reasons": self.reasons,
            "missing_inputs": self.missing_inputs,
            "model_version": self.model_version.version,
            "threshold": self.threshold,
        }


def applicant_score(*, inputs: dict[str, Any], model_version: ModelVersion | None = None) -> ApplicantScore:
    """Probability, points, decision and reasons for one applicant's validated inputs."""
    model_version = model_version_for_scoring(model_version)
    started = time.perf_counter()
    scorer = model_version_load(model_version=model_version)
    applicant = {name: inputs.get(name) for name in schema.FEATURE_NAMES}
    scored = score_and_explain_one(
        scorer,
        applicant,
        reference=model_version.reference_applicant,
        scale=points_scale(),
        threshold=model_version.threshold,
    )
    return ApplicantScore(
        probability_bad=float(scored["probability_bad"]),
        score=int(scored["score"]),
        decision=str(scored["decision"]),
        reasons=scored["reasons"],
        model_version=model_version,
        threshold=model_version.threshold,
        scoring_ms=(time.perf_counter() - started) * 1000,
        missing_inputs=missing_inputs(inputs=applicant, model_version=model_version),
    )


def missing_inputs(*, inputs: dict[str, Any], model_version: ModelVersion | None) -> list[str]:
    """The inputs the model uses that the caller did not send (or sent as null): scored as missing,
    never silently as some other value, and listed with the decision."""
    if model_version is not None:
        used = model_version.features
    else:  # not scored yet: the inputs any model may use
        used = [name for name in schema.FEATURE_NAMES if name not in settings.CREDITRISK_EXCLUDED_FEATURES]
    implied = {area for area, flag in _NO_PHONE_NO_AREA_CODE.items() if inputs.get(flag) == "N"}
    return [name for name in used if inputs.get(name) is None and name not in implied]


# An applicant without the phone has no area code for it: that is an answer, not a gap.
_NO_PHONE_NO_AREA_CODE = {
    "RESIDENCIAL_PHONE_AREA_CODE": "FLAG_RESIDENCIAL_PHONE",
    "PROFESSIONAL_PHONE_AREA_CODE": "FLAG_PROFESSIONAL_PHONE",
}


def score_request_create(
    *,
    inputs: dict[str, Any],
    requested_by: AbstractBaseUser | AnonymousUser | None,
    channel: str,
    listen: bool = False,
) -> ScoreRequest:
    """Store the applicant and a queued request and tell the worker, all or nothing.

    The task is published inside the transaction (``scoring/queues.py``): if the
    broker cannot take it, QueueUnavailableError is raised and neither row is kept. ``listen``: the
    caller will wait for the decision (``scoring/services/waiting.py``), so this connection listens
    for its signal from this transaction on.
    """
    external_id = inputs.get(schema.ID_COLUMN)
    features = {name: inputs.get(name) for name in schema.FEATURE_NAMES}
    user = requested_by if isinstance(requested_by, User) and requested_by.is_authenticated else None
    listen = listen and final_signal_available()  # decided before this transaction: is it the outermost?
    with transaction.atomic():
        if listen and settings.CREDITRISK_SCORE_WAIT_SECONDS >= 1:
            # Nothing a client is told can be lost by it: the caller waits for the decision and is
            # answered after a flush of everything committed before (``score_requests_wait_final``),
            # which covers this transaction too (WAL is flushed in order). With no decision within the
            # wait (at least a second) the answer is a 202, and by then PostgreSQL's WAL writer has
            # flushed it anyway (within 3 x ``wal_writer_delay``, 0.6 s by default). A request answered
            # at once (``asynchronous``) commits synchronously.
            commit_without_waiting_for_the_disk()
        applicant = Applicant.objects.create(
            external_id=external_id, **{name.lower(): value for name, value in features.items()}
        )
        request = ScoreRequest.objects.create(
            applicant=applicant,
            requested_by=user,
            channel=channel,
            input_snapshot={schema.ID_COLUMN: external_id, **features},
        )
        if listen:
            final_listen(score_request_id=request.pk)
        queues.send(queues.SCORE_REQUEST, str(request.id))  # last: any error before it sends nothing
    return request


def score_request_process(*, score_request_id: str, worker: str = "") -> ScoreRequest:
    """The worker's part: score a queued request and append it to the audit chain, exactly once.

    The message can arrive before the transaction that stores the row commits. The claim is one
    ``UPDATE ... RETURNING``; when it takes nothing, the row is read to tell why (``_unclaimed``):
    not visible yet raises DoesNotExist (the task waits and tries again); final means another
    delivery handled it; and queued or running means the commit landed between the two statements,
    so the row is claimed again rather than taken for handled and its message dropped. ``worker``
    (its heartbeat hostname) is stored with the claim: if that worker stops beating, the sweep
    dispatches the request again at once (``scoring/services/sweep.py``).
    """
    request = _claim(score_request_id, worker)
    if request is None:
        return _unclaimed(score_request_id, worker)
    if request.attempts > settings.CREDITRISK_MAX_ATTEMPTS:
        # Each attempt died mid-task (out of memory, killed): stop instead of looping for ever.
        error = f"given up after {request.attempts - 1} attempts that did not finish"
        return score_request_finalize(score_request=request, error=error)
    try:
        result = applicant_score(inputs=request.input_snapshot)
    except (NoActiveModelError, ArtifactUnusableError) as exc:
        return score_request_finalize(score_request=request, error=str(exc))
    final = score_request_finalize(score_request=request, result=result)
    # Committed, and the waiting caller signalled: only now the challenger, if any, scores it in shadow.
    shadow_score_request(score_request=final)
    return final


def _claim(score_request_id: str, worker: str) -> ScoreRequest | None:
    """Mark a queued or running request running, one attempt more, and return it: one statement.

    Running is claimed too: a worker that died mid-task leaves it so, and its message comes again.

    On PostgreSQL the claim commits asynchronously (it does not wait for the disk): a claim lost in
    a crash leaves the request queued, which the sweep dispatches again, and the flush that comes
    before the caller is answered covers the claim with the decision. One disk flush less per decision.
    """
    table, db = ScoreRequest._meta.db_table, connection
    pk = ScoreRequest._meta.pk.get_db_prep_value(uuid.UUID(str(score_request_id)), db)
    started_at = ScoreRequest._meta.get_field("started_at").get_db_prep_value(timezone.now(), db)
    running, queued = ScoreRequest.Status.RUNNING, ScoreRequest.Status.QUEUED
    quoted = db.ops.quote_name(table)
    # One statement (autocommit): the CTE sets synchronous_commit for this statement's transaction only.
    asynchronous = (
        "WITH asynchronous AS (SELECT set_config('synchronous_commit', 'off', true)) "
        if db.vendor == "postgresql" and not db.in_atomic_block
        else ""
    )
    source = " FROM asynchronous" if asynchronous else ""
    # Manager.raw() runs the statement once and gives the returned row the model's field conversions.
    claimed = ScoreRequest.objects.raw(
        f"{asynchronous}UPDATE {quoted} SET status = %s, started_at = %s, attempts = attempts + 1, "
        f"claimed_by = %s{source} WHERE id = %s AND status IN (%s, %s) RETURNING {quoted}.*",
        [running, started_at, worker, pk, queued, running],
    )
    return next(iter(claimed), None)


def _unclaimed(score_request_id: str, worker: str) -> ScoreRequest:
    """Why the claim took nothing (the rare path): see ``score_request_process``."""
    request = ScoreRequest.objects.get(pk=score_request_id)  # DoesNotExist: not committed yet
    if request.is_final:
        return request  # a second delivery of the same task changes nothing
    return score_request_process(score_request_id=score_request_id, worker=worker)  # visible now, so claimed now


_DECISION_FIELDS = ("status", "probability_bad", "score", "decision", "reasons", "model_version", "threshold")
# What finalising writes: the decision (or the error), and the request's link of the audit chain.
_CHAIN_FIELDS = ("sequence", "previous_hash", "record_hash", "audit_key_id")
_FINAL_FIELDS = (*_DECISION_FIELDS, "scoring_ms", "error", "finished_at", *_CHAIN_FIELDS)


@transaction.atomic
def score_request_finalize(
    *, score_request: ScoreRequest, result: ApplicantScore | None = None, error: str = ""
) -> ScoreRequest:
    """Write the outcome and chain the record; a request that is already final is left as it is.

    ``score_request`` is the row as claimed or read: what the chain hashes besides the outcome is
    never changed after creation. The chain head's lock orders every finalisation, and the write
    only takes a row that is still not final, so one delivery wins and the others store nothing.

    The COMMIT does not wait for the disk (scoring/services/commits.py), so the head, which every
    decision and chunk waits for, is not held through a disk flush: beside a bulk job that flush
    also writes the job's rows, and decisions queued behind it for tens of milliseconds each. The
    waiting caller is answered only after a flush that covers the decision
    (``score_requests_wait_final``), and so is a checkpoint of the head. A crash in the milliseconds
    before that flush takes the decision back whole, and the request is scored again (the sweep).
    """
    commit_without_waiting_for_the_disk()
    head = chain_head_lock()
    request = score_request
    if result is not None:
        request.status = ScoreRequest.Status.DONE
        request.probability_bad, request.score, request.decision = result.probability_bad, result.score, result.decision
        request.reasons, request.model_version = result.reasons, result.model_version
        request.threshold, request.scoring_ms = result.threshold, result.scoring_ms
    else:
        request.status, request.error = ScoreRequest.Status.FAILED, error
    request.finished_at = timezone.now()
    chain_append(head, request, result.model_version.version if result else None)
    stored = ScoreRequest.objects.filter(
        pk=request.pk, status__in=[ScoreRequest.Status.QUEUED, ScoreRequest.Status.RUNNING]
    ).update(**{name: getattr(request, name) for name in _FINAL_FIELDS})
    if not stored:
        return ScoreRequest.objects.get(pk=request.pk)  # finalised by another delivery first; head untouched
    head.save()
    return request


def score_request_replay(*, score_request: ScoreRequest, model_version: ModelVersion | None = None) -> ApplicantScore:
    """Score the stored input again (active or named version); the original record is untouched."""
    return applicant_score(inputs=score_request.input_snapshot, model_version=model_version)
