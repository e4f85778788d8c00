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
    reason_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``probability_bad, score, decision, reasons`` of every row, from one set of predict_proba calls.

    ``reasons`` holds each row's reasons as JSON-ready dicts (see :mod:`ml.reasons`);
    ``reason_columns`` limits the inputs that may be reasons (default: all the model uses).
    """
    probability, explained = score_and_explain(
        model, frame[list(schema.FEATURE_NAMES)], reference, excluded=excluded, columns=reason_columns
    )
    return pd.DataFrame(
        {
            "probability_bad": probability,
            "score": np.round(scale.points(probability)).astype(int),
            "decision": decisions(probability, threshold),
            "reasons": [[reason.as_dict() for reason in reasons] for reasons in explained],
        }
    )


def most_important(
    importance: Mapping[str, float], limit: int | None, excluded: Sequence[str] = ()
) -> list[str] | None:
    """The ``limit`` inputs whose shuffling cost the model most AUC (None: no limit, every input)."""
    if not limit or not importance:
        return None
    ranked = sorted(importance, key=lambda name: -importance[name])
    return [name for name in ranked if name in schema.FEATURE_NAMES and name not in excluded][:limit]
