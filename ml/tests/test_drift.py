"""Population stability: PSI and CSI on samples small enough to work out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from ml import drift, schema
from ml.sample import synthetic_applications


def test_identical_distributions_have_an_index_of_zero():
    assert drift.psi([30, 50, 20], [3, 5, 2]) == 0.0


def test_psi_of_two_bins_by_hand():
    # shares 50/50 -> 25/75: (0.25-0.5)*ln(0.25/0.5) + (0.75-0.5)*ln(0.75/0.5)
    expected = (0.25 - 0.5) * math.log(0.5) + (0.75 - 0.5) * math.log(1.5)
    assert drift.psi([50, 50], [25, 75]) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.274653, abs=1e-6)


def test_an_empty_bin_counts_as_epsilon_not_infinity():
    # The development rows never had the third bin; the sample puts 20% there.
    e = [0.5, 0.5, drift.EPSILON]
    a = [0.4, 0.4, 0.2]
    by_hand = sum((ai - ei) * math.log(ai / ei) for ei, ai in zip(e, a, strict=True))
    assert drift.psi([50, 50, 0], [40, 40, 20]) == pytest.approx(by_hand, abs=1e-12)
    assert by_hand == pytest.approx(0.0446287 + 0.1999 * math.log(2000), abs=1e-6)  # about 1.564


def test_bins_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="3 and 2 bins"):
        drift.psi([1, 2, 3], [1, 2])


@pytest.mark.parametrize(
    ("value", "band"), [(0.0, "stable"), (0.0999, "stable"), (0.1, "watch"), (0.25, "watch"), (0.2501, "act")]
)
def test_bands(value, band):
    assert drift.band(value) == band


def test_numeric_reference_has_decile_edges_and_a_missing_bin():
    spec = drift.numeric_reference(pd.Series([*range(1, 11), np.nan]))
    assert spec["edges"] == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # the last bin (> 9) is open
    assert spec["counts"] == [1] * 10 + [1]
    assert drift.bin_labels(spec)[:2] == ["≤ 1", "1 < x ≤ 2"]
    assert drift.bin_labels(spec)[-2:] == ["> 9", "missing"]


def test_a_value_on_an_edge_falls_in_the_bin_below_it():
    spec = drift.numeric_reference(pd.Series(range(1, 11)))
    counts = drift.numeric_counts(spec, np.array([0, 5, 5.5, 100, np.nan]))
    #                   ≤1 ≤2 ≤3 ≤4 ≤5 ≤6 ≤7 ≤8 ≤9 >9 missing
    assert counts.tolist() == [1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1]


def test_an_input_with_few_values_gets_fewer_bins():
    spec = drift.numeric_reference(pd.Series([0] * 70 + [1] * 20 + [2] * 10))
    assert spec["edges"] == [0, 1]
    assert spec["counts"] == [70, 20, 10, 0]


def test_an_input_that_never_varied_has_one_bin_named_by_its_value():
    spec = drift.numeric_reference(pd.Series([0.0] * 9 + [np.nan]))
    assert spec["edges"] == [] and spec["counts"] == [9, 1]
    assert drift.bin_labels(spec) == ["= 0", "missing"]
    # A later file that leaves it out nine times in ten: everything moves to the missing bin.
    later = drift.numeric_counts(spec, np.array([np.nan] * 9 + [1.0]))
    assert later.tolist() == [1, 9]


def test_csi_of_codes_with_an_unseen_code_and_missing_values_by_hand():
    spec = drift.category_reference(pd.Series(["a", "a", "b", None], dtype=object))
    assert spec["values"] == ["a", "b"]
    assert spec["counts"] == [2, 1, 0, 1]  # a, b, other, missing
    sample = drift.category_counts(spec, pd.Series(["a", "c", "c", None], dtype=object))
    assert sample.tolist() == [1, 0, 2, 1]  # "c" was never seen: other
    # shares: a .5 -> .25, b .25 -> 0 (epsilon), other 0 (epsilon) -> .5, missing .25 -> .25
    eps = drift.EPSILON
    by_hand = (
        (0.25 - 0.5) * math.log(0.25 / 0.5)
        + (eps - 0.25) * math.log(eps / 0.25)
        + (0.5 - eps) * math.log(0.5 / eps)
        + 0.0
    )
    assert drift.psi(spec["counts"], sample) == pytest.approx(by_hand, abs=1e-12)
    assert by_hand == pytest.approx(6.386261, abs=1e-5)


def test_free_text_keeps_its_most_frequent_values_and_the_rest_is_other():
    cities = pd.Series(["X"] * 5 + ["Y"] * 3 + ["Z"] * 2 + [None], dtype=object)
    spec = drift.category_reference(cities, keep=2)
    assert spec["values"] == ["X", "Y"]
    assert spec["counts"] == [5, 3, 2, 1]
    assert drift.category_counts(spec, cities).tolist() == spec["counts"]


def test_the_reference_of_the_development_rows_gives_them_an_index_of_zero():
    frame = synthetic_applications(400, seed=3)
    probability = np.random.default_rng(0).random(len(frame))
    reference = drift.reference_build(frame, probability)
    assert set(reference["inputs"]) == set(schema.FEATURE_NAMES)
    assert all(sum(spec["counts"]) == 400 for spec in reference["inputs"].values())
    assert json.loads(json.dumps(reference)) == reference  # JSON as it is stored
    report = drift.drift_report(reference, drift.sample_counts(reference, frame, probability), source="same rows")
    assert report.score is not None and report.score.psi == 0.0
    assert {row.psi for row in report.inputs} == {0.0}
    assert report.inputs_to_act_on == []
    assert "below 500" in report.notes[0]  # 400 rows: the report says an index is mostly noise


def test_a_shifted_input_is_reported_to_act_on_with_the_others_stable():
    frame = synthetic_applications(2000, seed=4)
    probability = np.random.default_rng(1).random(len(frame))
    reference = drift.reference_build(frame, probability)
    later = synthetic_applications(2000, seed=5)
    later["AGE"] = 75.0  # everyone in the top bin
    later["PAYMENT_DAY"] = "30"  # a code the development rows never had (drift needs no valid value)
    report = drift.drift_report(
        reference, drift.sample_counts(reference, later, probability), source="later", used=["AGE"]
    )
    assert report.inputs[0].name in ("AGE", "PAYMENT_DAY")
    assert set(report.inputs_to_act_on) == {"AGE", "PAYMENT_DAY"}
    by_name = {row.name: row for row in report.inputs}
    assert by_name["PAYMENT_DAY"].largest_shift == "other: 0.0% -> 100.0%"
    assert not by_name["PAYMENT_DAY"].used_by_model and by_name["AGE"].used_by_model
    assert by_name["PRODUCT"].band == "stable"
    assert drift.DriftReport.from_dict(json.loads(json.dumps(report.as_dict()))) == report
    table = report.table()
    assert "PAYMENT_DAY (not used)" in table and "act" in table


def test_counts_of_pieces_add_up_to_the_counts_of_the_whole():
    frame = synthetic_applications(600, seed=6)
    probability = np.linspace(0, 1, len(frame))
    reference = drift.reference_build(frame, probability)
    whole = drift.sample_counts(reference, frame, probability)
    pieces: dict[str, np.ndarray] = {}
    for part in (slice(0, 250), slice(250, 600)):
        drift.add_counts(pieces, drift.sample_counts(reference, frame.iloc[part], probability[part]))
    assert all((pieces[name] == whole[name]).all() for name in whole)
