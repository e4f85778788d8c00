"""The comparison of a challenger with the champion, on a constructed table with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.challenger import COMPARISON_COLUMNS, compare_decisions, weighted_quantile

# (champion decision, challenger decision, champion points, challenger points, decisions, sums of both probabilities)
TABLE = pd.DataFrame(
    [
        ("approve", "approve", 620, 625, 5, 5 * 0.10, 5 * 0.09),
        ("approve", "decline", 600, 570, 2, 2 * 0.20, 2 * 0.35),  # swap-out
        ("decline", "approve", 560, 590, 1, 0.40, 0.22),  # swap-in
        ("decline", "decline", 540, 540, 2, 2 * 0.50, 2 * 0.50),
        ("approve", "approve", 700, 700, 0, 0.0, 0.0),  # an empty cell counts for nothing
    ],
    columns=list(COMPARISON_COLUMNS),
)


def test_agreement_and_approval_rates():
    comparison = compare_decisions(TABLE)
    assert comparison.decisions == 10
    assert comparison.agreement_rate == pytest.approx(0.7)  # (5 + 2) of 10
    assert comparison.champion_approval_rate == pytest.approx(0.7)  # 5 + 2
    assert comparison.challenger_approval_rate == pytest.approx(0.6)  # 5 + 1
    assert comparison.champion_mean_probability == pytest.approx(2.3 / 10)
    assert comparison.challenger_mean_probability == pytest.approx(2.37 / 10)
    cells = {(c["champion_decision"], c["challenger_decision"]): c["decisions"] for c in comparison.cells}
    assert cells == {
        ("approve", "approve"): 5,
        ("approve", "decline"): 2,
        ("decline", "approve"): 1,
        ("decline", "decline"): 2,
    }


def test_swap_sets_have_their_sizes_and_mean_probabilities():
    comparison = compare_decisions(TABLE)
    swap_in, swap_out = comparison.swap_in, comparison.swap_out
    assert (swap_in.decisions, swap_in.share) == (1, pytest.approx(0.1))
    assert swap_in.champion_mean_probability == pytest.approx(0.40)
    assert swap_in.challenger_mean_probability == pytest.approx(0.22)
    assert (swap_out.decisions, swap_out.share) == (2, pytest.approx(0.2))
    assert swap_out.champion_mean_probability == pytest.approx(0.20)
    assert swap_out.challenger_mean_probability == pytest.approx(0.35)
    assert "approved by the challenger" in swap_in.description


def test_score_shift_quantiles_bands_and_means():
    shift = compare_decisions(TABLE).shift
    # Shifts: +5 (x5), -30 (x2), +30 (x1), 0 (x2); sorted -30, -30, 0, 0, 5, 5, 5, 5, 5, 30.
    assert shift.mean == pytest.approx(-0.5)
    assert shift.champion_mean_points == pytest.approx(594.0)
    assert shift.challenger_mean_points == pytest.approx(593.5)
    assert shift.quantiles == {"p5": -30, "p25": 0, "p50": 5, "p75": 5, "p95": 30}
    assert shift.share_moved_20 == pytest.approx(0.3)
    bands = {band["label"]: band["decisions"] for band in shift.bands}
    assert bands == {
        "20 or more lower": 2,
        "10 to 19 lower": 0,
        "1 to 9 lower": 0,
        "the same": 2,
        "1 to 9 higher": 5,
        "10 to 19 higher": 0,
        "20 or more higher": 1,
    }


def test_both_score_distributions_share_their_bins():
    histogram = compare_decisions(TABLE, bins=12).histogram
    # 540 to 625 points: 86 points in bins of ceil(86 / 12) = 8, so 11 bins from 540.
    assert len(histogram) == 11 and histogram[0]["low"] == 540 and histogram[-1]["high"] == 627
    assert [b["champion"] for b in histogram] == [2, 0, 1, 0, 0, 0, 0, 2, 0, 0, 5]
    assert [b["challenger"] for b in histogram] == [2, 0, 0, 2, 0, 0, 1, 0, 0, 0, 5]


def test_nothing_to_compare_gives_no_rates():
    comparison = compare_decisions(TABLE.iloc[:0])
    assert comparison.decisions == 0 and comparison.agreement_rate is None
    assert comparison.swap_in.decisions == 0 and comparison.swap_in.champion_mean_probability is None
    assert comparison.shift.mean is None and comparison.shift.quantiles == {} and comparison.histogram == []
    assert comparison.as_dict()["shift"]["bands"][0]["decisions"] == 0


def test_a_table_without_its_columns_is_refused():
    with pytest.raises(ValueError, match="lacks challenger_score"):
        compare_decisions(TABLE.drop(columns=["challenger_score"]))


def test_weighted_quantile_is_the_inverted_empirical_distribution():
    values, weights = np.array([3, -1, 7, 0]), np.array([2, 1, 4, 3])
    expanded = np.repeat(values, weights)
    for q in (0.0, 0.05, 0.1, 0.3, 0.5, 0.6, 0.95, 1.0):
        assert weighted_quantile(values, weights, q) == np.quantile(expanded, q, method="inverted_cdf"), q
