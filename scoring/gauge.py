"""The score gauge of the demo page: drawn over the range real applicants get, with the cut-off on it.

The range is the 1st to 99th percentile of the points of the active version's development rows
(their out-of-fold predictions, kept beside the artifact at training time and checksum-verified
here), so a close call shows as one. A version without them is drawn over the full points scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TypedDict

from django.conf import settings

from ml.registry import ArtifactIntegrityError, load_table
from ml.scorecard import PointsScale, points_range
from scoring.model_registry import points_scale
from scoring.models import ModelVersion

RADIUS, CENTRE_X, CENTRE_Y = 90.0, 100.0, 100.0


@dataclass(frozen=True)
class Gauge:
    low: int
    high: int
    cutoff: int  # points at the version's threshold: at or below it, the application is declined
    derived: bool  # the range comes from the development rows (else: the full scale)

    def share(self, points: float) -> float:
        """Where ``points`` sit along the gauge, 0 at ``low`` and 1 at ``high`` (clamped)."""
        return min(1.0, max(0.0, (points - self.low) / (self.high - self.low)))


@lru_cache(maxsize=8)
def _development_range(path: str, sha256: str, scale: PointsScale) -> tuple[int, int] | None:
    try:
        validation = load_table(settings.CREDITRISK_MODEL_DIR / path, sha256)
    except (ArtifactIntegrityError, OSError):
        return None
    probabilities = validation["probability_bad"].dropna()
    return points_range(probabilities, scale) if len(probabilities) else None


def gauge_for(model_version: ModelVersion) -> Gauge:
    scale = points_scale()
    cutoff = int(round(float(scale.points(model_version.threshold))))
    found = None
    if model_version.validation_path:
        found = _development_range(model_version.validation_path, model_version.validation_sha256, scale)
    low, high = found or (int(scale.minimum), int(scale.maximum))
    # The cut-off is always on the gauge, and the range never collapses to a point.
    low, high = min(low, cutoff - 5), max(high, cutoff + 5)
    return Gauge(low=low, high=high, cutoff=cutoff, derived=found is not None)


def _point(share: float, radius: float = RADIUS) -> tuple[float, float]:
    angle = math.pi * (1 - share)
    return round(CENTRE_X + radius * math.cos(angle), 2), round(CENTRE_Y - radius * math.sin(angle), 2)


def _arc(start: float, end: float) -> str:
    (x0, y0), (x1, y1) = _point(start), _point(end)
    return f"M{x0},{y0} A{RADIUS},{RADIUS} 0 0,1 {x1},{y1}"


class GaugeDrawing(TypedDict):
    decline_zone: str  # SVG paths
    approve_zone: str
    tick: dict[str, float]  # x1, y1, x2, y2
    cutoff_label: dict[str, float | str]  # x, y, anchor
    needle: dict[str, float]  # x, y


def gauge_drawing(gauge: Gauge, points: int) -> GaugeDrawing:
    """SVG geometry of one applicant's gauge: the decline and approve zones, the cut-off tick, the needle."""
    cut, score = gauge.share(gauge.cutoff), gauge.share(points)
    tick_inner, tick_outer = _point(cut, RADIUS - 16), _point(cut, RADIUS + 14)
    label_x, label_y = _point(cut, RADIUS + 22)
    needle = _point(score, RADIUS - 22)
    return {
        "decline_zone": _arc(0.0, cut),
        "approve_zone": _arc(cut, 1.0),
        "tick": {"x1": tick_inner[0], "y1": tick_inner[1], "x2": tick_outer[0], "y2": tick_outer[1]},
        # Beside the tick, on the side away from the centre, so it never runs over the arc.
        "cutoff_label": {
            "x": label_x,
            "y": label_y,
            "anchor": "start" if cut > 0.6 else "end" if cut < 0.4 else "middle",
        },
        "needle": {"x": needle[0], "y": needle[1]},
    }
