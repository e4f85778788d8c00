import numpy as np
import pytest

from ml.scorecard import APPROVE, DECLINE, PointsScale, decisions, points_range


def test_base_odds_give_base_points_and_pdo_doubles_odds():
    scale = PointsScale()
    assert scale.points(1 / 51) == pytest.approx(600)  # 50:1 good:bad
    assert scale.points(1 / 101) == pytest.approx(620)  # 100:1 is 20 points more


def test_probability_to_points_and_back_round_trips():
    scale = PointsScale()
    p = np.linspace(0.001, 0.95, 500)
    inside = (scale.points(p, clip=False) >= 300) & (scale.points(p, clip=False) <= 850)
    assert inside.sum() > 400
    np.testing.assert_allclose(scale.probability_bad(scale.points(p[inside])), p[inside], rtol=1e-10)


def test_higher_risk_gives_fewer_points_and_points_are_clipped():
    scale = PointsScale()
    points = scale.points([1e-9, 0.01, 0.2, 0.6, 1 - 1e-9])
    assert list(points) == sorted(points, reverse=True)
    assert points[0] == 850 and points[-1] == 300


def test_decision_declines_at_or_above_threshold():
    assert list(decisions([0.1, 0.25, 0.4], 0.25)) == [APPROVE, DECLINE, DECLINE]


def test_points_range_spans_the_middle_98_percent_of_the_points():
    scale = PointsScale()
    probabilities = np.linspace(0.05, 0.6, 1001)
    low, high = points_range(probabilities, scale)
    points = scale.points(probabilities)
    assert low <= np.percentile(points, 1) < low + 1 and high - 1 < np.percentile(points, 99) <= high
    assert scale.minimum < low < high < scale.maximum
