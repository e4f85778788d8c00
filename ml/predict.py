"""Scoring validated applications with a fitted model: probability, points and decision."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ml import schema
from ml.reasons import score_and_explain
from ml.scorecard import PointsScale, decisions


def probability_bad(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """One ``predict_proba`` for the whole frame: the model takes the raw input columns."""
    return model.predict_proba(frame[list(schema.FEATURE_NAMES)])[:, 1]


def score_applications(model: Any, frame: pd.DataFrame, *, scale: PointsScale, threshold: float) -> pd.DataFrame:
    probability = probability_bad(model, frame)
    return pd.DataFrame(
        {
            schema.ID_COLUMN: frame[schema.ID_COLUMN].astype("Int64").to_numpy(),
            "probability_bad": probability,
            "score": np.round(scale.points(probability)).astype(int),
            "decision": decisions(probability, threshold),
        }
    )


def score_and_explain_applications(
    model: Any,
    frame: pd.DataFrame,
    *,
    reference: Mapping[str, object],
    excluded: Sequence[str] | None,
    scale: PointsScale,
    threshold: float,
) -> pd.DataFrame:
    """``probability_bad, score, decision, reasons`` of every row, from one set of predict_proba calls.

    ``reasons`` holds each row's reasons as JSON-ready dicts (see :mod:`ml.reasons`).
    """
    probability, explained = score_and_explain(model, frame[list(schema.FEATURE_NAMES)], reference, excluded=excluded)
    return pd.DataFrame(
        {
            "probability_bad": probability,
            "score": np.round(scale.points(probability)).astype(int),
            "decision": decisions(probability, threshold),
            "reasons": [[reason.as_dict() for reason in reasons] for reasons in explained],
        }
    )
