"""Realised performance on a constructed set whose every figure is worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.performance import (
    LIMIT,
    band_count,
    calibration_bands,
    expected_loan_value,
    realised_performance,
    wilson_interval,
)
from ml.simulation import Economics

# Eight decisions with outcomes, safest first: approved below 0.35 (the first five), declined above.
PROBABILITY = [0.05, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.60]
BAD = [0, 0, 1, 0, 0, 1, 1, 1]
APPROVED = [p < 0.35 for p in PROBABILITY]
SCORE = [700, 680, 660, 650, 630, 610, 600, 590]


@pytest.fixture(scope="module")
def report() -> dict:
    return realised_performance(
        PROBABILITY, BAD, APPROVED, economics=Economics(), score=SCORE, decisions=20, approved_decisions=10, bands=2
    )


def test_discrimination_by_hand(report):
    # Bads at 0.15, 0.40, 0.50, 0.60 against goods at 0.05, 0.10, 0.20, 0.30: 2 + 4 + 4 + 4 of 16 pairs ranked right.
    assert report["roc_auc"] == pytest.approx(14 / 16)
    assert report["gini"] == pytest.approx(2 * 14 / 16 - 1)
    # Above 0.30 (declining the three riskiest): 3 of 4 bads caught, no good declined.
    assert report["ks"] == pytest.approx(0.75)


def test_rates_of_the_approved_and_of_the_declined_lent_to_anyway(report):
    assert (report["outcomes"], report["bads"], report["bad_rate"]) == (8, 4, 0.5)
    assert report["expected_bad_rate"] == pytest.approx(2.3 / 8)
    assert report["approved"] == {
        "outcomes": 5,
        "bads": 1,
        "bad_rate": 0.2,
        "expected_bad_rate": pytest.approx(0.8 / 5),
    }
    assert report["declined"] == {"outcomes": 3, "bads": 3, "bad_rate": 1.0, "expected_bad_rate": pytest.approx(0.5)}
    assert report["approval_rate"] == 0.5 and report["outcome_coverage"] == 0.5  # 5 outcomes of 10 approved
    assert report["limit"] == LIMIT and "approved population only" in LIMIT


def test_calibration_bands_by_hand(report):
    # The median of the probabilities is 0.25: 0.05-0.20 in band 1, 0.30-0.60 in band 2.
    low, high = report["calibration"]
    assert (low["outcomes"], low["bads"], low["bad_rate"]) == (4, 1, 0.25)
    assert low["mean_probability"] == pytest.approx(0.125)
    assert (low["probability_low"], low["probability_high"], low["score_low"], low["score_high"]) == (
        0.05,
        0.2,
        650,
        700,
    )
    assert (high["outcomes"], high["bads"], high["bad_rate"]) == (4, 3, 0.75)
    assert high["mean_probability"] == pytest.approx(0.45)
    # Wilson, 1 of 4: centre (0.25 + z²/8) / (1 + z²/4), half-width z·sqrt(0.25·0.75/4 + z²/64) / (1 + z²/4).
    z2 = 1.959963984540054**2
    centre, half = (0.25 + z2 / 8) / (1 + z2 / 4), math.sqrt(0.046875 + z2 / 64) * math.sqrt(z2) / (1 + z2 / 4)
    assert (low["interval_low"], low["interval_high"]) == (pytest.approx(centre - half), pytest.approx(centre + half))
    assert low["interval_low"] == pytest.approx(0.0456, abs=1e-4) and low["interval_high"] == pytest.approx(
        0.6994, abs=1e-4
    )
    assert low["verdict"] == "consistent"  # 0.125 lies inside [0.046, 0.699]
    assert high["verdict"] == "consistent"


def test_profit_realised_and_expected_by_hand(report):
    # Default economics: 1,000 lent, +25% on a good loan, -75% on a bad one. Approved: four goods, one bad.
    profit = report["profit"]
    assert profit["loans"] == 5 and profit["exposure"] == 5000
    assert profit["realised"] == pytest.approx(4 * 250 - 750)
    # Expected value of a loan: 1,000 × ((1-p)·0.25 - p·0.75) = 1,000 × (0.25 - p); summed over p = .05 ... .30.
    assert profit["expected"] == pytest.approx(1000 * (5 * 0.25 - 0.8))
    assert profit["difference"] == pytest.approx(250 - 450)
    assert profit["realised_per_loan"] == pytest.approx(50) and profit["expected_per_loan"] == pytest.approx(90)


def test_expected_value_of_a_loan_includes_the_cost_of_funds():
    economics = Economics(exposure=1000, margin=0.25, loss_given_default=0.75, cost_of_funds=0.05)
    # good: 1,000 × (0.25 - 0.05) = 200; bad: -1,000 × (0.75 + 0.05) = -800; at p = 0.1: 0.9·200 - 0.1·800 = 100.
    assert expected_loan_value([0.1], [1000], economics)[0] == pytest.approx(100)


def test_a_band_whose_prediction_lies_outside_the_interval_is_flagged():
    # 40 outcomes at 0.05 predicted, 20 of them bad: observed 50%, far above.
    bands = calibration_bands([0.05] * 40, [1] * 20 + [0] * 20, bands=1)
    assert bands[0]["verdict"] == "under-predicted"
    bands = calibration_bands([0.9] * 40, [1] * 2 + [0] * 38, bands=1)
    assert bands[0]["verdict"] == "over-predicted"


def test_equal_probabilities_share_a_band():
    # Terciles at 0.1 and 0.133: the four rows at 0.1 stay together, the edge's band is the one above it.
    bands = calibration_bands([0.1, 0.1, 0.1, 0.1, 0.2, 0.3], [0, 0, 1, 0, 1, 1], bands=3)
    assert [(b["band"], b["outcomes"], b["bads"]) for b in bands] == [(1, 4, 1), (2, 2, 2)]


def test_wilson_interval_of_none_in_ten_by_hand():
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(3.8415 / 13.8415, abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)


def test_few_outcomes_get_fewer_bands():
    assert [band_count(n) for n in (0, 29, 30, 95, 300, 10_000)] == [1, 1, 1, 3, 10, 10]


def test_one_class_only_has_no_discrimination_figures_and_says_why():
    report = realised_performance([0.1, 0.2], [0, 0], [True, True], economics=Economics())
    assert (
        report["roc_auc"] is None
        and report["ks"] is None
        and "both repaid and defaulted" in report["discrimination_note"]
    )
    assert report["approval_rate"] is None and report["profit"]["realised"] == pytest.approx(500)


def test_no_outcomes_at_all_is_an_empty_report_not_an_error():
    report = realised_performance(np.array([]), np.array([]), np.array([], dtype=bool), economics=Economics())
    assert report["outcomes"] == 0 and report["bad_rate"] is None and report["calibration"] == []
    assert report["profit"]["loans"] == 0 and report["profit"]["realised_per_loan"] is None
