"""Scoring whole files of applications with the active model (the ``score_csv`` contract)."""

from __future__ import annotations

import pandas as pd

from ml.data import Applications
from ml.predict import score_applications
from scoring.models import ModelVersion
from scoring.selectors import model_version_get_active_for_scoring, model_version_load, points_scale


class NoActiveModelError(RuntimeError):
    """Scoring was asked for while no model version is active."""


def model_version_for_scoring(model_version: ModelVersion | None = None) -> ModelVersion:
    """``model_version``, or else the active one; scoring with none is an error the caller explains."""
    model_version = model_version or model_version_get_active_for_scoring()
    if model_version is None:
        raise NoActiveModelError("no model version is active: run `python manage.py train` first")
    return model_version


def applications_score(*, applications: Applications, model_version: ModelVersion | None = None) -> pd.DataFrame:
    """``ID_CLIENT, probability_bad, score, decision`` for every valid application."""
    model_version = model_version_for_scoring(model_version)
    model = model_version_load(model_version=model_version)
    return score_applications(model, applications.frame, scale=points_scale(), threshold=model_version.threshold)
