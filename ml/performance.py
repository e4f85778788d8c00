"""Realised performance: how a model's decisions turned out, once the lender knows who repaid (no Django).

Given the decisions that have an observed outcome (their predicted probability of default, whether
they were approved, and whether the client defaulted), :func:`realised_performance` measures:

- discrimination: ROC AUC, Gini and KS of the predicted probability against the outcomes;
- calibration: the observed bad rate in bands of the predicted probability (equal-count bands,
  riskiest last) beside the band's mean predicted probability, with a 95% Wilson interval for the
  observed rate: a band whose predicted rate lies outside it is over- or under-predicted;
- the approved and the declined with outcomes (a lender who lent despite a decline, an override),
  their bad rates, observed and expected;
- profit under the simulation's economics (``ml.simulation.Economics``): what the approved loans with
  outcomes earned, booked as the simulation books them, beside what the same loans were expected to
  earn from their predicted probabilities (the simulation's arithmetic on the model's own figures).

The limit, which every report states: a lender learns the outcome of the loans it made, so these
figures describe the approved applicants only. The ROC AUC on them is lower than on everyone who
applied (the riskiest were declined, so the range of risk is narrower), and nothing here says how
the declined would have fared.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

from ml.evaluation import ks_statistic
from ml.simulation import Economics, loan_value

BANDS = 10
MIN_BAND_ROWS = 30  # fewer bands when there are few outcomes: each holds at least this many (or one band)
Z_95 = 1.959963984540054
LIMIT = (
    "Outcomes exist only for applicants whom the lender approved (and for declined applicants it lent to "
    "anyway): these figures describe the approved population only. The ROC AUC among the approved is lower "
    "than among all applicants, since the riskiest were declined, and nothing here measures how the declined "
    "would have fared."
)


def wilson_interval(bads: int, n: int, z: float = Z_95) -> tuple[float | None, float | None]:
    """The Wilson score interval of a rate of ``bads`` in ``n`` (95% by default); (None, None) for n = 0."""
    if n <= 0:
        return None, None
    rate = bads / n
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def band_count(n: int, bands: int = BANDS, min_rows: int = MIN_BAND_ROWS) -> int:
    """How many bands ``n`` outcomes are cut into: ``bands``, fewer where a band would hold under ``min_rows``."""
    return max(1, min(bands, n // max(min_rows, 1)))


def calibration_bands(
    probability_bad: npt.ArrayLike, bad: npt.ArrayLike, *, bands: int, score: npt.ArrayLike | None = None
) -> list[dict[str, Any]]:
    """Observed bad rate against mean predicted probability in ``bands`` equal-count bands of the
    probability, safest first. Edges are quantiles of the probabilities; equal probabilities always
    share a band (so ties can leave a band fewer, or more, rows than the others)."""
    probability = np.asarray(probability_bad, dtype=float)
    bad = np.asarray(bad, dtype=bool)
    if len(probability) == 0:
        return []
    inner = np.unique(np.quantile(probability, np.linspace(0, 1, bands + 1)[1:-1]))
    band = np.searchsorted(inner, probability, side="right")  # a value on an edge belongs to the band above
    points = None if score is None else np.asarray(score, dtype=float)
    rows: list[dict[str, Any]] = []
    for index in np.unique(band):
        members = band == index
        n, bads = int(members.sum()), int(bad[members].sum())
        mean = float(probability[members].mean())
        low, high = wilson_interval(bads, n)
        rows.append(
            {
                "band": len(rows) + 1,
                "outcomes": n,
                "bads": bads,
                "bad_rate": bads / n,
                "mean_probability": mean,
                "probability_low": float(probability[members].min()),
                "probability_high": float(probability[members].max()),
                "score_low": None if points is None else int(points[members].min()),
                "score_high": None if points is None else int(points[members].max()),
                "interval_low": low,
                "interval_high": high,
                "verdict": _verdict(mean, low, high),
            }
        )
    return rows


def _verdict(predicted: float, low: float | None, high: float | None) -> str:
    """How the predicted rate stands against the observed one's 95% interval."""
    if low is None or high is None:
        return "-"
    if predicted > high:
        return "over-predicted"
    return "under-predicted" if predicted < low else "consistent"


def _rates(probability: np.ndarray, bad: np.ndarray) -> dict[str, Any]:
    n = len(bad)
    return {
        "outcomes": n,
        "bads": int(bad.sum()),
        "bad_rate": float(bad.mean()) if n else None,
        "expected_bad_rate": float(probability.mean()) if n else None,
    }


def _discrimination(probability: np.ndarray, bad: np.ndarray) -> dict[str, Any]:
    if len(np.unique(bad)) < 2:
        return {
            "roc_auc": None,
            "gini": None,
            "ks": None,
            "discrimination_note": "ROC AUC and KS need both repaid and defaulted clients among the outcomes",
        }
    auc = float(roc_auc_score(bad, probability))
    return {"roc_auc": auc, "gini": 2 * auc - 1, "ks": ks_statistic(bad, probability), "discrimination_note": ""}


def expected_loan_value(probability_bad: npt.ArrayLike, exposure: npt.ArrayLike, economics: Economics) -> np.ndarray:
    """What each loan is expected to earn if its predicted probability of default is right."""
    probability = np.asarray(probability_bad, dtype=float)
    good = loan_value(np.zeros(len(probability), dtype=bool), exposure, economics)
    defaulted = loan_value(np.ones(len(probability), dtype=bool), exposure, economics)
    return (1 - probability) * good + probability * defaulted


def _profit(probability: np.ndarray, bad: np.ndarray, exposure: np.ndarray, economics: Economics) -> dict[str, Any]:
    """The approved loans with outcomes: booked as the simulation books them, and as expected."""
    loans = len(bad)
    realised = float(loan_value(bad, exposure, economics).sum())
    expected = float(expected_loan_value(probability, exposure, economics).sum())
    return {
        "loans": loans,
        "exposure": float(exposure.sum()),
        "realised": realised,
        "expected": expected,
        "difference": realised - expected,
        "realised_per_loan": realised / loans if loans else None,
        "expected_per_loan": expected / loans if loans else None,
        "economics": economics.as_dict(),
    }


def realised_performance(
    probability_bad: npt.ArrayLike,
    bad: npt.ArrayLike,
    approved: npt.ArrayLike,
    *,
    economics: Economics,
    exposure: npt.ArrayLike | None = None,
    score: npt.ArrayLike | None = None,
    decisions: int | None = None,
    approved_decisions: int | None = None,
    bands: int | None = None,
) -> dict[str, Any]:
    """Everything the report shows, from the decisions that have an outcome (one element each).

    ``exposure``: what each was lent (default: the economics' exposure for all); ``decisions`` and
    ``approved_decisions``: every decision of the model, with or without an outcome, for the approval
    rate and the share of approved loans whose outcome is known; ``bands``: default
    :func:`band_count` of the outcomes.
    """
    probability = np.asarray(probability_bad, dtype=float)
    bad, approved = np.asarray(bad, dtype=bool), np.asarray(approved, dtype=bool)
    lent = np.full(len(bad), float(economics.exposure)) if exposure is None else np.asarray(exposure, dtype=float)
    points = None if score is None else np.asarray(score, dtype=float)
    n_bands = bands if bands is not None else band_count(len(bad))
    return {
        "decisions": decisions,
        "approved_decisions": approved_decisions,
        "approval_rate": approved_decisions / decisions if decisions and approved_decisions is not None else None,
        "outcome_coverage": (int(approved.sum()) / approved_decisions if approved_decisions else None),
        **_rates(probability, bad),
        "approved": _rates(probability[approved], bad[approved]),
        "declined": _rates(probability[~approved], bad[~approved]),
        **_discrimination(probability, bad),
        "calibration": calibration_bands(probability, bad, bands=n_bands, score=None if points is None else points),
        "profit": _profit(probability[approved], bad[approved], lent[approved], economics),
        "limit": LIMIT,
    }
