"""The model registry's public interface: which version scores, its compiled scorer, the points
scale, and the policy cut-off. Scoring, bulk jobs, the challenger and simulations read models
through this module alone.

A version is immutable once trained but for its threshold (a simulation can apply one) and which
one is active or challenger: what scoring reads of one is kept per process, and every decision asks
the database only for those two; its compiled scorer is loaded once per process, after its sha256
matched, and checked against its file on every use.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.db import connection

from creditrisk.gc import freeze_loaded_objects
from ml.registry import ArtifactOutdatedError, artifact_signature, load_artifact
from ml.scorecard import PointsScale
from ml.scorer import CompiledScorer
from scoring.models import ModelVersion

# (scorer path, sha256) -> (the file's signature when it was checked, compiled scorer)
_loaded: dict[tuple[str, str], tuple[tuple[int, int, int], Any]] = {}
_lock = threading.Lock()


# What scoring reads of a model version.
SCORING_FIELDS = (
    "id",
    "version",
    "algorithm",
    "features",
    "excluded_features",
    "reference_applicant",
    "reference_probability",
    "threshold",
    "scorer_path",
    "scorer_sha256",
    "artifact_path",
    "artifact_sha256",
    "is_active",
)


class NoActiveModelError(RuntimeError):
    """Scoring was asked for while no model version is active."""


def model_version_for_scoring(model_version: ModelVersion | None = None) -> ModelVersion:
    """``model_version``, or else the active one; scoring with none is an error the caller explains."""
    model_version = model_version or model_version_get_active_for_scoring()
    if model_version is None:
        raise NoActiveModelError("no model version is active: run `python manage.py train` first")
    return model_version


_scoring_versions: OrderedDict[int, ModelVersion] = OrderedDict()
_versions_lock = threading.Lock()


def model_version_get_active_for_scoring() -> ModelVersion | None:
    """The active version with what scoring reads: one plain statement for its id and threshold (a
    newly activated version or threshold is used by the next score); the rest is read once."""
    return _kept_for_scoring("is_active")


def model_version_get_challenger_for_scoring() -> ModelVersion | None:
    """The challenger, read as the active version is (one plain statement for its id and threshold,
    the rest kept per process): a challenger set or cleared is used from the next decision on."""
    return _kept_for_scoring("is_challenger")


def _kept_for_scoring(flag: str) -> ModelVersion | None:
    table = ModelVersion._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, threshold FROM {connection.ops.quote_name(table)} WHERE {flag} LIMIT 1")
        row = cursor.fetchone()
    if row is None:
        return None
    pk, threshold = row
    with _versions_lock:
        kept = _scoring_versions.get(pk)
        if kept is not None:
            _scoring_versions.move_to_end(pk)  # the least recently used goes first
    if kept is None:
        kept = ModelVersion.objects.only(*SCORING_FIELDS).get(pk=pk)
        with _versions_lock:
            _scoring_versions[pk] = kept
            while len(_scoring_versions) > 8:  # the champion and the challenger are the two in use
                _scoring_versions.popitem(last=False)
    version = copy.copy(kept)  # threads of one process share the kept one; each gets its own threshold
    version.threshold = threshold
    return version


def model_version_load(*, model_version: ModelVersion) -> CompiledScorer:
    """The version's compiled scorer, loaded once per process and only after its sha256 matched.

    Every call also looks at the file: deleted, or changed since it was checked (the sha256 is then
    checked again), it is refused with ArtifactIntegrityError, so no worker keeps deciding with a
    model whose artifact no longer matches the registry. A version trained before the compiled
    scorer existed has none: ArtifactOutdatedError, whose message says to retrain.
    """
    if not model_version.scorer_path:
        raise ArtifactOutdatedError(
            f"model version {model_version.version} was trained before the compiled scorer and cannot score any more; "
            "train a new version (`make train` or `python manage.py train --activate`)"
        )
    path = settings.CREDITRISK_MODEL_DIR / model_version.scorer_path
    key = (str(path), model_version.scorer_sha256)
    with _lock:
        signature = artifact_signature(path)
        cached = _loaded.get(key)
        if cached is None or cached[0] != signature:
            _loaded.pop(key, None)
            _loaded[key] = (signature, load_artifact(path, model_version.scorer_sha256))
            freeze_loaded_objects()  # the scorer's tables, out of the garbage collector's way
        return _loaded[key][1]


def points_scale() -> PointsScale:
    return PointsScale(
        base_points=settings.CREDITRISK_SCORE_BASE_POINTS,
        base_odds=settings.CREDITRISK_SCORE_BASE_ODDS,
        pdo=settings.CREDITRISK_SCORE_PDO,
        minimum=settings.CREDITRISK_SCORE_MIN,
        maximum=settings.CREDITRISK_SCORE_MAX,
    )


def model_version_set_threshold(*, model_version: ModelVersion, threshold: float, choice: dict[str, Any]) -> bool:
    """Make ``threshold`` the policy cut-off of ``model_version`` (single and bulk scoring use it from
    the next decision on), with ``choice``: how it was chosen. False if the version is gone."""
    updated = ModelVersion.objects.filter(pk=model_version.pk).update(threshold=threshold, threshold_choice=choice)
    return bool(updated)
