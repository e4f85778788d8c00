"""The lending simulation's arithmetic, on sets small enough to check by hand."""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd
import pytest

from ml import schema
from ml.simulation import (
    Economics,
    age_bands,
    approve,
    bootstrap_intervals,
    choose_threshold,
    cramers_v,
    fairness_table,
    policy_outcome,
    profit_curve,
    proxy_strength,
    roc_points,
    score_distributions,
    simulate,
    simulation_report,
    threshold_choice_for,
)
from ml.simulation_plots import CHART_NAMES, render

# Six applicants. At a cut-off of 0.25 the first, second and fifth are approved.
PROBABILITY = np.array([0.10, 0.20, 0.30, 0.40, 0.15, 0.60])
BAD = np.array([0, 1, 0, 1, 0, 1], dtype=bool)
FIXED = np.full(6, 1000.0)


def test_profit_of_a_tiny_set_checked_by_hand():
    summary = simulate(PROBABILITY, BAD, FIXED, threshold=0.25, economics=Economics())
    # approved: two good clients (+250 each) and one bad (-750)
    assert summary["approved"] == 3 and summary["approval_rate"] == 0.5
    assert summary["profit"] == 250 + 250 - 750 == -250
    assert summary["profit_per_applicant"] == pytest.approx(-250 / 6)
    assert summary["bad_rate_approved"] == pytest.approx(1 / 3)
    assert summary["defaults_avoided"] == 2 and summary["goods_declined"] == 1
    # everyone: three goods and three bads; the oracle: the three goods only
    assert summary["profit_approve_all"] == 3 * 250 - 3 * 750 == -1500
    assert summary["profit_oracle"] == 750 and summary["approved_oracle"] == 3
    assert summary["uplift_captured"] == pytest.approx((-250 + 1500) / (750 + 1500))


def test_costs_of_applications_and_of_funds_are_booked():
    economics = Economics(cost_per_application=10, cost_of_funds=0.05)
    summary = simulate(PROBABILITY, BAD, FIXED, threshold=0.25, economics=economics)
    # a good client now earns 1000 * (0.25 - 0.05), a bad one costs 1000 * (0.75 + 0.05); six applications at 10
    assert summary["profit"] == pytest.approx(200 + 200 - 800 - 60)
    assert summary["profit_oracle"] == pytest.approx(3 * 200 - 60)
    assert economics.break_even == pytest.approx(0.20)


def test_exposure_as_a_multiple_of_income_with_a_cap():
    economics = Economics(income_multiple=2, exposure_cap=1500)
    exposure = economics.exposures(pd.Series([400, 1000, np.nan, 0]), 4)
    assert exposure.tolist() == [800, 1500, 1000, 1000]  # missing or zero income: the fixed exposure
    outcome = policy_outcome([True, True, False, False], [False, True, False, False], exposure, economics)
    assert outcome["profit"] == pytest.approx(0.25 * 800 - 0.75 * 1500)
    assert outcome["exposure_approved"] == 2300


@pytest.mark.parametrize(
    "values",
    [
        {"exposure": 0},
        {"margin": -0.1},
        {"loss_given_default": float("nan")},
        {"cost_per_application": -1},
        {"exposure_cap": -5},
    ],
)
def test_impossible_economics_are_refused(values):
    with pytest.raises(ValueError):
        Economics(**values)


def test_when_funding_costs_eat_the_margin_no_loan_is_worth_making():
    economics = Economics(cost_of_funds=0.3)
    summary = simulate(PROBABILITY, BAD, FIXED, threshold=0.25, economics=economics)
    assert economics.break_even == 0 and summary["approved_oracle"] == 0 and summary["profit_oracle"] == 0
    assert summary["profit"] == 2 * -50 - 1050


def test_default_economics_break_even_at_a_quarter():
    assert Economics().break_even == 0.25 and Economics().is_default
    assert not Economics(margin=0.3).is_default
    assert Economics.from_dict({**Economics().as_dict(), "unknown": 1}) == Economics()


def test_the_sweep_agrees_with_one_cut_off_at_a_time():
    curve = profit_curve(PROBABILITY, BAD, FIXED, Economics())
    for row in curve.itertuples():
        one = simulate(PROBABILITY, BAD, FIXED, threshold=cast(float, row.threshold), economics=Economics())
        assert row.profit == one["profit"] and row.approved == one["approved"]
    assert curve["approved"].iloc[0] == 0 and curve["profit"].iloc[0] == 0  # the lowest cut-off declines everyone
    assert curve["threshold"].iloc[-1] == 1.0 and curve["profit"].iloc[-1] == -1500  # approve everyone


def test_decisions_follow_the_scorecard_rule():
    assert approve([0.1, 0.25, 0.3], 0.25).tolist() == [True, False, False]  # declined at the cut-off itself


def _calibrated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probability = rng.beta(2, 5, n)
    return probability, rng.random(n) < probability


@pytest.mark.parametrize("margin", [0.25, 0.4])
def test_on_calibrated_predictions_the_chosen_cut_off_is_near_break_even(margin):
    probability, bad = _calibrated_sample(40_000, seed=1)
    economics = Economics(margin=margin)
    choice = choose_threshold(probability, bad, np.full(len(bad), 1000.0), economics, n_boot=100)
    assert choice.threshold == pytest.approx(economics.break_even, abs=0.03)
    assert choice.spread[0] <= choice.threshold <= choice.spread[1]
    assert choice.validation_rows == 40_000 and choice.break_even == economics.break_even


def test_the_choice_is_reproducible_and_reads_the_validation_frame():
    probability, bad = _calibrated_sample(5000, seed=2)
    validation = pd.DataFrame(
        {"probability_bad": probability, schema.LABEL: bad.astype(int), "PERSONAL_MONTHLY_INCOME": 500.0}
    )
    first = threshold_choice_for(validation=validation, economics=Economics(), n_boot=50)
    again = threshold_choice_for(validation=validation, economics=Economics(), n_boot=50)
    assert first == again
    assert threshold_choice_for(validation=validation.assign(**{schema.LABEL: 0}), economics=Economics()) is None


def test_fairness_table_on_a_constructed_example():
    # Group A: 10 applicants, 8 approved (2 of them bad). Group B: 10, 4 approved (1 bad). Group C: 1, approved.
    group = pd.Series(["A"] * 10 + ["B"] * 10 + ["C"])
    approved = np.array([1] * 8 + [0] * 2 + [1] * 4 + [0] * 6 + [1], dtype=bool)
    bad = np.array([1, 1, 0, 0, 0, 0, 0, 0, 1, 1] + [1, 0, 0, 0, 1, 1, 1, 0, 0, 0] + [0], dtype=bool)
    table = fairness_table(group, approved, bad, min_flag_applicants=5).set_index("group")
    assert table.loc["A", "approval_rate"] == 0.8 and table.loc["B", "approval_rate"] == 0.4
    assert table.loc["A", "bad_rate_approved"] == 0.25 and table.loc["B", "bad_rate_approved"] == 0.25
    assert table.loc["A", "bad_rate"] == 0.4 and table.loc["B", "bad_rate"] == 0.4
    # C (1 of 21 applicants, under 5%) approves everyone but is too small to be the reference: A is.
    assert table.loc["A", "adverse_impact_ratio"] == 1.0
    assert table.loc["B", "adverse_impact_ratio"] == 0.5 and table.loc["B", "below_four_fifths"]
    assert table.loc["C", "adverse_impact_ratio"] == 1.25 and not table.loc["A", "below_four_fifths"]
    # Groups this small are marked, not flagged: with the default of 50, all three are small.
    assert fairness_table(group, approved, bad)["small_group"].all()
    assert not fairness_table(group, approved, bad)["below_four_fifths"].any()


def test_age_bands_and_missing_groups():
    bands = age_bands(pd.Series([18, 24, 25, 44, 65, 90, np.nan]))
    assert bands.tolist() == ["under 25", "under 25", "25-34", "35-44", "65 and over", "65 and over", "missing"]
    by_age = fairness_table(age_bands(pd.Series([70, 30, np.nan, 20])), [True] * 4, [False] * 4)
    assert by_age["group"].tolist() == ["under 25", "25-34", "65 and over", "missing"]  # youngest first
    table = fairness_table(pd.Series(["M", None, "F"]), [True, True, False], [False, False, False])
    assert table["group"].tolist() == ["F", "M", "missing"]


def test_cramers_v_tells_a_proxy_from_noise():
    rng = np.random.default_rng(0)
    sex = pd.Series(rng.choice(["F", "M"], 5000))
    mirror = sex.map({"F": "zip-1", "M": "zip-2"})
    noise = pd.Series(rng.integers(100, 400, 5000).astype(str))  # 300 zip prefixes unrelated to sex
    assert cramers_v(mirror, sex) == pytest.approx(1.0, abs=0.01)
    assert cramers_v(noise, sex) < 0.05  # without the bias correction this would be about 0.25
    leaning = pd.Series(np.where(rng.random(5000) < 0.7, mirror, "zip-3"))
    table = proxy_strength({"zip": leaning, "noise": noise}, {"SEX": sex}).set_index("input")
    assert cast(float, table.loc["zip", "cramers_v"]) > 0.3 and table.loc["noise", "strength"] == "negligible"


def test_bootstrap_interval_contains_the_measured_profit_and_narrows_with_more_rows():
    probability, bad = _calibrated_sample(20_000, seed=3)
    approved = approve(probability, 0.25)
    widths = []
    for n in (2000, 20_000):
        ci = bootstrap_intervals(approved[:n], bad[:n], np.full(n, 1000.0), Economics(), n_boot=300)
        profit = policy_outcome(approved[:n], bad[:n], np.full(n, 1000.0), Economics())["profit"]
        assert ci["profit"]["low"] < profit < ci["profit"]["high"]
        high, low = ci["profit_per_applicant"]["high"], ci["profit_per_applicant"]["low"]
        assert high is not None and low is not None
        widths.append(high - low)
    assert widths[1] < widths[0] / 2
    again = bootstrap_intervals(approved[:2000], bad[:2000], np.full(2000, 1000.0), Economics(), n_boot=300)
    assert (
        again["profit"]
        == bootstrap_intervals(approved[:2000], bad[:2000], np.full(2000, 1000.0), Economics(), n_boot=300)["profit"]
    )


def test_a_test_set_without_bad_clients_has_no_uplift_to_share():
    summary = simulate(PROBABILITY, np.zeros(6, dtype=bool), FIXED, threshold=0.25, economics=Economics())
    assert summary["uplift_captured"] is None and summary["profit_oracle"] == summary["profit_approve_all"] == 1500
    ci = bootstrap_intervals(approve(PROBABILITY, 0.25), np.zeros(6, dtype=bool), FIXED, Economics(), n_boot=50)
    low = ci["profit"]["low"]
    assert ci["uplift_captured"] == {"low": None, "high": None} and low is not None and low >= 0
    report = simulation_report(_scored(50).assign(**{schema.LABEL: 0}), threshold=0.3, economics=Economics(), n_boot=50)
    assert report.summary["roc_auc"] is None and report.charts["roc"]["true_positive_rate"] == []


def test_curves_for_the_report():
    probability, bad = _calibrated_sample(3000, seed=4)
    roc = roc_points(probability, bad)
    assert 0.6 < roc["roc_auc"] < 0.9 and len(roc["false_positive_rate"]) == 101
    assert roc["true_positive_rate"][0] >= 0 and roc["true_positive_rate"][-1] == 1.0
    distributions = score_distributions(np.linspace(480, 560, 100), np.arange(100) % 2 == 0, bins=16)
    assert sum(distributions["goods"]) == pytest.approx(1) and sum(distributions["bads"]) == pytest.approx(1)
    assert distributions["edges"][0] == 480 and distributions["edges"][-1] == 560 and len(distributions["edges"]) == 17


def _scored(n: int = 2000, seed: int = 5) -> pd.DataFrame:
    probability, bad = _calibrated_sample(n, seed)
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            schema.ID_COLUMN: np.arange(1, n + 1),
            "probability_bad": probability,
            "score": np.round(600 - 100 * probability).astype(int),
            schema.LABEL: bad.astype(int),
            "SEX": rng.choice(["F", "M"], n),
            "AGE": rng.integers(18, 80, n),
            "MARITAL_STATUS": rng.integers(1, 5, n),
            "RESIDENCIAL_STATE": rng.choice(["SP", "RJ", "RS"], n),
            "PERSONAL_MONTHLY_INCOME": 800.0,
        }
    )


def test_the_report_books_every_decision_consistently():
    report = simulation_report(_scored(), threshold=0.3, economics=Economics(), n_boot=200)
    decisions, summary = report.decisions, report.summary
    assert len(decisions) == 2000 and (decisions["decision"] == "approve").sum() == summary["approved"]
    assert decisions["profit"].sum() == pytest.approx(summary["profit"])
    assert summary["hindsight_uplift_captured"] >= summary["uplift_captured"]  # the best cut-off on these rows
    assert set(report.fairness["groups"]) == {"SEX", "AGE band"}
    assert {(p["input"], p["attribute"]) for p in report.fairness["proxies"]} >= {
        ("RESIDENCIAL_STATE", "SEX"),
        ("RESIDENCIAL_STATE", "AGE band"),
    }
    assert len(report.charts["profit_curve"]["threshold"]) == 201


def test_every_chart_renders_as_png():
    report = simulation_report(_scored(500), threshold=0.3, economics=Economics(), n_boot=100)
    stored = {"summary": report.summary, "charts": report.charts, "fairness": report.fairness}
    for name in CHART_NAMES:
        assert render(name, stored, points_at=lambda t: 560.0).startswith(b"\x89PNG")
    with pytest.raises(KeyError):
        render("pie", stored)
