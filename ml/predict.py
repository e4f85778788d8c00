"""Scoring validated applications with a fitted model: probability, points and decision."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml import schema
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
