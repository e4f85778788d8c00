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
    declined_only: bool = False,
) -> pd.DataFrame:
    """``probability_bad, score, decision, reasons`` of every row.

    ``reasons`` holds each row's reasons as JSON-ready dicts (see :mod:`ml.reasons`);
    ``reason_columns`` limits the inputs that may be reasons (default: all the model uses);
    ``declined_only`` explains only the declined rows (the reasons an adverse-action notice
    needs), which costs a fraction of explaining everyone when most are approved.
    """
    X = frame[list(schema.FEATURE_NAMES)].reset_index(drop=True)
    if X.empty:  # a chunk of nothing but bad rows
        return pd.DataFrame({"probability_bad": pd.Series(dtype=float), "score": pd.Series(dtype=int),
                             "decision": pd.Series(dtype=object), "reasons": pd.Series(dtype=object)})  # fmt: skip
    if declined_only:
        probability = probability_bad(model, X)
        explain_rows = np.flatnonzero(decisions(probability, threshold) == "decline")
    else:
        probability, explain_rows = np.empty(len(X)), np.arange(len(X))
    reasons: list[list[dict[str, Any]]] = [[] for _ in range(len(X))]
    if len(explain_rows):
        explained_probability, explained = score_and_explain(
            model, X.iloc[explain_rows], reference, excluded=excluded, columns=reason_columns
        )
        probability[explain_rows] = explained_probability
        for row, row_reasons in zip(explain_rows, explained, strict=True):
            reasons[row] = [reason.as_dict() for reason in row_reasons]
    return pd.DataFrame(
        {
            "probability_bad": probability,
            "score": np.round(scale.points(probability)).astype(int),
            "decision": decisions(probability, threshold),
            "reasons": reasons,
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
