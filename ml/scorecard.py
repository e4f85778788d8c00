"""Probability of default to credit points and back, and the approve/decline decision.

Points follow the usual scorecard scaling: ``points = offset + factor * ln(odds)`` with odds of
good to bad, ``factor = pdo / ln 2`` and ``offset`` placing ``base_points`` at ``base_odds``.
Higher points are safer. Points are clipped to ``[minimum, maximum]`` for display; inside that
range the mapping is exact both ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

APPROVE = "approve"
DECLINE = "decline"
_EPSILON = 1e-12


@dataclass(frozen=True)
class PointsScale:
    base_points: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    minimum: float = 300.0
    maximum: float = 850.0

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def points(self, probability_bad: npt.ArrayLike, *, clip: bool = True) -> np.ndarray:
        p = np.clip(np.asarray(probability_bad, dtype=float), _EPSILON, 1 - _EPSILON)
        points = self.offset + self.factor * np.log((1 - p) / p)
        return np.clip(points, self.minimum, self.maximum) if clip else points

    def probability_bad(self, points: npt.ArrayLike) -> np.ndarray:
        odds = np.exp((np.asarray(points, dtype=float) - self.offset) / self.factor)
        return 1 / (1 + odds)


def decisions(probability_bad: npt.ArrayLike, threshold: float) -> np.ndarray:
    """``decline`` where the probability of default reaches ``threshold``, else ``approve``."""
    return np.where(np.asarray(probability_bad, dtype=float) >= threshold, DECLINE, APPROVE)


def points_range(
    probability_bad: npt.ArrayLike, scale: PointsScale, *, low: float = 1.0, high: float = 99.0
) -> tuple[int, int]:
    """The ``low``-th and ``high``-th percentiles of the points of these probabilities, as whole points.

    Over the development rows' out-of-fold predictions, the range real applicants get: a gauge
    drawn over it shows where an applicant stands, where the full scale puts everyone in a sliver.
    """
    points = scale.points(probability_bad)
    lowest, highest = np.percentile(points, [low, high])
    return int(np.floor(lowest)), int(np.ceil(highest))
