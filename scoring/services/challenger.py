"""Champion and challenger: naming the challenger, and its shadow scores of every live decision.

The champion is the active version: it makes every decision. Any other version that can score may be
the challenger (at most one; the database refuses a second, and refuses a challenger that is also
active). Every live decision, single and bulk, is then also scored by the challenger, with its own
compiled scorer and its own cut-off, and stored beside the champion's in ``ShadowScore``; nothing
returns it as a decision. Promotion is the existing activation: activating the challenger makes it
the champion and leaves no challenger (``model_version_activate``).

The champion's answer never waits for the challenger and never fails because of it. The worker task
that made the decision scores the challenger only after the decision is committed, which is also
when PostgreSQL signals the web request waiting for it (``scoring/services/waiting.py``); for a bulk
chunk, after the chunk's results, its audit link and the job's counters are committed. The shadow
costs the worker the challenger's probability (no reasons: 0.5 ms for one applicant) and one write;
anything the challenger raises is recorded in the shadow row and skipped, and a shadow row the
database refuses is logged and skipped. Shadow rows are not part of the audit chain, so the
champion's records and their hashes are exactly what they would be without a challenger.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ml import schema
from ml.challenger import ShadowScores, shadow_scores
from ml.registry import ArtifactUnusableError
from scoring.model_registry import model_version_get_challenger_for_scoring, model_version_load, points_scale
from scoring.models import BatchChunk, BatchJob, ModelVersion, ScoreRequest, ShadowScore

logger = logging.getLogger(__name__)


class ChallengerError(ValueError):
    """The version cannot be made the challenger; the message says why."""


# -- naming the challenger ---------------------------------------------------------------------------


@transaction.atomic
def challenger_set(*, model_version: ModelVersion) -> ModelVersion:
    """Make ``model_version`` the challenger, in place of any other; ChallengerError if it cannot be one.

    It must not be the active version (the champion), and its compiled scorer must load (present, and
    its sha256 the registered one): a challenger that cannot score would only record errors.
    """
    # Lock the versions that hold a role, and this one, so two administrators cannot cross.
    list(ModelVersion.objects.select_for_update().filter(is_challenger=True))
    version = ModelVersion.objects.select_for_update().get(pk=model_version.pk)
    if version.is_active:
        raise ChallengerError(f"{version.version} is the active model, the champion: it cannot also be its challenger")
    if version.is_challenger:
        return version
    try:
        model_version_load(model_version=version)
    except ArtifactUnusableError as exc:
        raise ChallengerError(f"{version.version} cannot score, so it cannot be the challenger: {exc}") from exc
    ModelVersion.objects.filter(is_challenger=True).update(is_challenger=False, challenger_since=None)
    try:
        ModelVersion.objects.filter(pk=version.pk).update(is_challenger=True, challenger_since=timezone.now())
    except IntegrityError as exc:  # another administrator named one in the same moment, or activated this one
        raise ChallengerError(
            f"{version.version} was not made the challenger: the versions changed meanwhile "
            f"({exc}); look again and retry"
        ) from exc
    version.refresh_from_db()
    return version


@transaction.atomic
def challenger_clear() -> ModelVersion | None:
    """Stop shadow scoring; the version that was the challenger (None if there was none). Its shadow
    scores stay on record."""
    version = ModelVersion.objects.select_for_update().filter(is_challenger=True).first()
    if version is not None:
        ModelVersion.objects.filter(pk=version.pk).update(is_challenger=False, challenger_since=None)
        version.refresh_from_db()
    return version


# -- shadow scores -----------------------------------------------------------------------------------


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


# When each challenger's failure was last logged (monotonic seconds): every failure is recorded in its
# shadow row, and the log says so once a minute, not a hundred times a second.
_failure_logged: dict[int, float] = {}
FAILURE_LOG_SECONDS = 60


# A challenger whose scorer could not be loaded is not tried again for this long: each attempt reads and
# hashes the whole file, which every decision of a busy worker would otherwise pay (by version and sha256).
LOAD_RETRY_SECONDS = 10
_unloadable: dict[tuple[int, str], tuple[float, str]] = {}


class ChallengerUnloadableError(RuntimeError):
    """The challenger's scorer failed to load moments ago (the text is that failure); retried later."""


def _load(challenger: ModelVersion) -> Any:
    key = (challenger.pk, challenger.scorer_sha256)
    refused = _unloadable.get(key)  # (when it failed, how)
    if refused is not None and time.monotonic() - refused[0] < LOAD_RETRY_SECONDS:
        raise ChallengerUnloadableError(refused[1])
    try:
        scorer = model_version_load(model_version=challenger)
    except Exception as exc:
        _unloadable[key] = (time.monotonic(), _failure(exc))
        raise
    _unloadable.pop(key, None)
    return scorer


def _score(challenger: ModelVersion, applications: pd.DataFrame | dict[str, Any]) -> ShadowScores | str:
    """The challenger's scores, or the text of what it raised (recorded and skipped, whatever it was).
    Scores that could not be stored (not one a row, or not finite) are a failure too."""
    try:
        scored = shadow_scores(_load(challenger), applications, scale=points_scale(), threshold=challenger.threshold)
        rows = 1 if isinstance(applications, dict) else len(applications)
        probability = np.asarray(scored.probability_bad, dtype=float)
        if len(probability) != rows or not np.isfinite(probability).all():
            raise ValueError(
                f"the challenger's scorer gave {len(probability)} probabilities for {rows} rows, "
                f"{int((~np.isfinite(probability)).sum())} of them not finite"
            )
        return scored
    except ChallengerUnloadableError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a failing challenger must never fail the champion's task
        now = time.monotonic()
        if now - _failure_logged.get(challenger.pk, -FAILURE_LOG_SECONDS) >= FAILURE_LOG_SECONDS:
            _failure_logged[challenger.pk] = now
            logger.warning(
                "challenger %s could not score (recorded in its shadow scores; logged once a minute): %s",
                challenger.version,
                _failure(exc),
            )
        return _failure(exc)


def shadow_score_request(*, score_request: ScoreRequest) -> ShadowScore | None:
    """The challenger's shadow score of a single decision the worker has just committed; None when
    there is no challenger (or the decision failed). Never raises: see the module's docstring.

    Two statements with a challenger (the challenger's id and threshold, then the row), one without.
    """
    if score_request.status != ScoreRequest.Status.DONE or score_request.model_version_id is None:
        return None
    try:
        challenger = model_version_get_challenger_for_scoring()
        if challenger is None or challenger.pk == score_request.model_version_id:
            return None
        snapshot = score_request.input_snapshot
        scored = _score(challenger, {name: snapshot.get(name) for name in schema.FEATURE_NAMES})
        row = ShadowScore(
            challenger=challenger,
            champion_id=score_request.model_version_id,
            score_request=score_request,
            external_id=score_request.external_id,
            champion_probability=score_request.probability_bad,
            champion_score=score_request.score,
            champion_decision=score_request.decision,
            threshold=challenger.threshold,
            created_at=timezone.now(),
            **_values(scored),
        )
        try:
            _write(lambda: _insert(row))
        except Exception as exc:  # noqa: BLE001 - the scores could not be stored: the failure is, if it can be
            row = _unstored(row, exc)
            _write(lambda: _insert(row))
        return row
    except Exception:  # noqa: BLE001 - the champion's decision is stored: nothing here may fail its task
        logger.exception("the challenger's shadow score of request %s was not stored", score_request.pk)
        return None


def _unstored(row: ShadowScore, exc: BaseException) -> ShadowScore:
    """The shadow row as a failure: its scores could not be written (counted with the failures)."""
    logger.warning("a shadow score could not be stored; recorded as a failure: %s", _failure(exc))
    row.probability_bad = row.score = None
    row.decision, row.error = "", f"the shadow score could not be stored: {_failure(exc)}"[:2000]
    return row


def _values(scored: ShadowScores | str) -> dict[str, Any]:
    if isinstance(scored, str):
        return {"error": scored}
    return {
        "probability_bad": float(scored.probability_bad[0]),
        "score": int(scored.score[0]),
        "decision": str(scored.decision[0]),
    }


def _insert(row: ShadowScore) -> None:
    """One INSERT, kept if a row of the same decision is already there (a second delivery): no transaction
    of its own, so in a worker it costs one round trip."""
    fields = [f for f in ShadowScore._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields if f.column is not None]  # every concrete field has its column
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(ShadowScore._meta.db_table)} ({', '.join(quote(column) for column in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT DO NOTHING",
            [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields],
        )


def _write(statement: Any) -> None:
    """Run the write; inside a caller's transaction, in a savepoint of its own, so that a refused row
    cannot break the caller's transaction. In a worker (autocommit) it is one statement, as it is."""
    if connection.in_atomic_block:
        with transaction.atomic():
            statement()
    else:
        statement()


def shadow_score_chunk(*, job: BatchJob, chunk: BatchChunk, applications: pd.DataFrame, results: pd.DataFrame) -> int:
    """The challenger's shadow scores of a bulk chunk whose results were just committed: one row a line,
    written in one statement (COPY on PostgreSQL), or one row for the chunk if the challenger failed.
    ``applications`` are the chunk's valid rows as scored, ``results`` their decisions, in the same
    order. Returns the decisions shadowed (0 without a challenger). Never raises."""
    if results.empty or job.model_version_id is None:
        return 0
    try:
        challenger = model_version_get_challenger_for_scoring()
        if challenger is None or challenger.pk == job.model_version_id:
            return 0
        started = time.perf_counter()
        scored = _score(challenger, applications)
        if isinstance(scored, str):
            failure = ShadowScore(
                challenger=challenger,
                champion_id=job.model_version_id,
                job=job,
                chunk=chunk,
                error=scored,
                decisions=len(results),
                threshold=challenger.threshold,
            )
            _write(lambda: _insert(failure))
        else:
            try:
                _write(lambda: _copy_rows(challenger, job, chunk, results, scored))
            except Exception as exc:  # noqa: BLE001 - the scores could not be stored: the failure is, if it can be
                failure = _unstored(
                    ShadowScore(
                        challenger=challenger,
                        champion_id=job.model_version_id,
                        job=job,
                        chunk=chunk,
                        decisions=len(results),
                        threshold=challenger.threshold,
                    ),
                    exc,
                )
                _write(lambda: _insert(failure))
        logger.debug("shadowed chunk %s of %s in %.1f ms", chunk.index, job.pk, (time.perf_counter() - started) * 1e3)
        return len(results)
    except Exception:  # noqa: BLE001 - the chunk's decisions are stored: nothing here may fail its task
        logger.exception("the challenger's shadow scores of chunk %s of job %s were not stored", chunk.index, job.pk)
        return 0


_COPY_COLUMNS = (
    "challenger_id",
    "champion_id",
    "job_id",
    "chunk_id",
    "line",
    "external_id",
    "champion_probability",
    "champion_score",
    "champion_decision",
    "probability_bad",
    "score",
    "decision",
    "threshold",
    "error",
    "decisions",
    "created_at",
)


def _copy_rows(
    challenger: ModelVersion, job: BatchJob, chunk: BatchChunk, results: pd.DataFrame, scored: ShadowScores
) -> None:
    now = timezone.now()
    columns = {
        "line": results["line"].to_numpy(dtype=np.int64),
        "external_id": results["external_id"].to_numpy(dtype=object),
        "champion_probability": results["probability_bad"].to_numpy(dtype=float),
        "champion_score": results["score"].to_numpy(dtype=np.int64),
        "champion_decision": results["decision"].to_numpy(dtype=object),
    }
    if connection.vendor != "postgresql":
        assert job.model_version_id is not None  # a job scored by the champion names it
        ShadowScore.objects.bulk_create(
            (
                ShadowScore(
                    challenger=challenger,
                    champion_id=job.model_version_id,
                    job=job,
                    chunk=chunk,
                    line=int(line),
                    external_id=None if pd.isna(external) else int(external),
                    champion_probability=float(p),
                    champion_score=int(points),
                    champion_decision=str(decision),
                    probability_bad=float(q),
                    score=int(shadow_points),
                    decision=str(shadow_decision),
                    threshold=challenger.threshold,
                    created_at=now,
                )
                for line, external, p, points, decision, q, shadow_points, shadow_decision in zip(
                    *columns.values(), scored.probability_bad, scored.score, scored.decision, strict=True
                )
            ),
            batch_size=2000,
            ignore_conflicts=True,
        )
        return
    prefix = f"{challenger.pk},{job.model_version_id},{job.pk},{chunk.pk},"
    suffix = f',{challenger.threshold!r},"",1,{now.isoformat()}\n'
    buffer = io.StringIO(
        "".join(
            f"{prefix}{line},{'' if pd.isna(external) else int(external)},{p!r},{points},{decision},"
            f"{q!r},{shadow_points},{shadow_decision}{suffix}"
            for line, external, p, points, decision, q, shadow_points, shadow_decision in zip(
                columns["line"].tolist(),
                columns["external_id"],
                columns["champion_probability"].tolist(),
                columns["champion_score"].tolist(),
                columns["champion_decision"],
                scored.probability_bad.tolist(),
                scored.score.tolist(),
                scored.decision.tolist(),
                strict=True,
            )
        )
    )
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f"COPY {ShadowScore._meta.db_table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN WITH (FORMAT csv, NULL '')",
            buffer,
        )
