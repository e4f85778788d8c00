"""Scoring validated applications with the compiled scorer: probability, points, decision and reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ml import schema
from ml.reasons import score_and_explain
from ml.scorecard import DECLINE, PointsScale, decisions
from ml.scorer import CompiledScorer


def probability_bad(scorer: CompiledScorer, frame: pd.DataFrame) -> np.ndarray:
    """One vectorised pass over the whole frame: the scorer takes the raw input columns."""
    return scorer.probability_bad(frame)


def score_applications(
    scorer: CompiledScorer, frame: pd.DataFrame, *, scale: PointsScale, threshold: float
) -> pd.DataFrame:
    probability = probability_bad(scorer, frame)
    return pd.DataFrame(
        {
            schema.ID_COLUMN: frame[schema.ID_COLUMN].astype("Int64").to_numpy(),
            "probability_bad": probability,
            "score": np.round(scale.points(probability)).astype(int),
            "decision": decisions(probability, threshold),
        }
    )


def score_and_explain_applications(
    scorer: CompiledScorer,
    applications: pd.DataFrame | Mapping[str, Any],
    *,
    reference: Mapping[str, object],
    scale: PointsScale,
    threshold: float,
    reason_columns: Sequence[str] | None = None,
    declined_only: bool = False,
) -> pd.DataFrame:
    """``probability_bad, score, decision, reasons`` of every row (a typed frame, or one applicant's fields).

    ``reasons`` holds each row's reasons as JSON-ready dicts (see :mod:`ml.reasons`);
    ``reason_columns`` limits the inputs that may be reasons (default: all the model uses);
    ``declined_only`` explains only the declined rows (the reasons an adverse-action notice
    needs), which costs a fraction of explaining everyone when most are approved.
    """
    n = len(applications) if isinstance(applications, pd.DataFrame) else 1
    if n == 0:  # a chunk of nothing but bad rows
        return pd.DataFrame(
            {
                "probability_bad": pd.Series(dtype=float),
                "score": pd.Series(dtype=int),
                "decision": pd.Series(dtype=object),
                "reasons": pd.Series(dtype=object),
            }
        )
    declined = (lambda p: decisions(p, threshold) == DECLINE) if declined_only else None
    probability, explained = score_and_explain(
        scorer, applications, reference, columns=reason_columns, explain_if=declined
    )
    if reason_columns is not None and isinstance(applications, pd.DataFrame):
        # A declined row none of the chosen inputs explains is explained from every input: no
        # decline goes out without a reason.
        unexplained = np.flatnonzero(
            (decisions(probability, threshold) == DECLINE) & ~np.array([bool(r) for r in explained])
        )
        if len(unexplained):
            _, again = score_and_explain(scorer, applications.iloc[unexplained], reference)
            for row, reasons in zip(unexplained, again, strict=True):
                explained[row] = reasons
    return pd.DataFrame(
        {
            "probability_bad": probability,
            "score": np.round(scale.points(probability)).astype(int),
            "decision": decisions(probability, threshold),
            "reasons": [[reason.as_dict() for reason in row] for row in explained],
        }
    )


def score_and_explain_one(
    scorer: CompiledScorer,
    applicant: Mapping[str, Any],
    *,
    reference: Mapping[str, object],
    scale: PointsScale,
    threshold: float,
) -> dict[str, Any]:
    """``probability_bad, score, decision, reasons`` of one applicant's fields, without pandas: a
    single score is a millisecond, and a frame alone costs a fair share of one."""
    probability, explained = score_and_explain(scorer, applicant, reference)
    return {
        "probability_bad": float(probability[0]),
        "score": int(np.round(scale.points(probability))[0]),
        "decision": str(decisions(probability, threshold)[0]),
        "reasons": [reason.as_dict() for reason in explained[0]],
    }


def most_important(
    importance: Mapping[str, float], limit: int | None, excluded: Sequence[str] = ()
) -> list[str] | None:
    """The ``limit`` inputs whose shuffling cost the model most AUC (None: no limit, every input)."""
    if not limit or not importance:
        return None
    ranked = sorted(importance, key=lambda name: -importance[name])
    return [name for name in ranked if name in schema.FEATURE_NAMES and name not in excluded][:limit]
