"""Decision reasons: faithful to the model on real rows, and robust on odd inputs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from ml import schema
from ml.candidates import make_candidate
from ml.data import frame_from_records, load_applications
from ml.reasons import (
    GROUPS,
    WORDING,
    Reason,
    describe,
    explain,
    model_excluded,
    reference_applicant,
    score_and_explain,
)

FEATURES = list(schema.FEATURE_NAMES)
EXCLUDED = schema.DEFAULT_EXCLUDED


def _fit(name: str, frame: pd.DataFrame) -> Pipeline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # KBinsDiscretizer's notes on constant columns
        return make_candidate(name, excluded=EXCLUDED, random_state=0).fit(frame[FEATURES], frame[schema.LABEL])


def _substituted(frame: pd.DataFrame, changes: list[tuple[int, tuple[str, ...]]], reference: dict) -> pd.DataFrame:
    """Copies of rows with columns set to the reference, built record by record (not as reasons.py does)."""
    records = []
    for position, columns in changes:
        record = {k: (None if pd.isna(v) else v) for k, v in frame.iloc[position].to_dict().items()}
        record.update({c: reference[c] for c in columns})
        records.append(record)
    return frame_from_records(records)[FEATURES]


def _same(a: list[list[Reason]], b: list[list[Reason]]) -> bool:
    """Equal reasons; impacts may differ in the last bits (BLAS sums depend on a row's position)."""

    def key(rows: list[list[Reason]]) -> list:
        return [[(r.columns, r.text, r.value, r.reference) for r in row] for row in rows]

    impacts = [np.array([r.impact for r in row]) for rows in (a, b) for row in rows]
    close = all(
        np.allclose(x, y, rtol=0, atol=1e-12) for x, y in zip(impacts[: len(a)], impacts[len(a) :], strict=False)
    )
    return key(a) == key(b) and close


def _probability(model: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame[FEATURES])[:, 1]


# -- real rows -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(shared_data_dir) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    frame = load_applications(shared_data_dir / "PAKDD2010_Modeling_Data.txt", require_label=True).frame
    shuffled = frame.sample(n=8300, random_state=3)
    train, explained = shuffled.iloc[:8000], shuffled.iloc[8000:]
    return train, explained, reference_applicant(train)


@pytest.fixture(scope="module", params=["logistic_regression", "hist_gradient_boosting"])
def real_model(request, real) -> tuple[Pipeline, pd.DataFrame, dict, list[list[Reason]], np.ndarray]:
    train, explained, reference = real
    model = _fit(request.param, train)
    probability, reasons = score_and_explain(model, explained, reference)
    return model, explained, reference, reasons, probability


@pytest.mark.slow
def test_every_reason_on_real_rows_is_an_exact_drop_in_risk(real_model):
    model, explained, reference, reasons, probability = real_model
    changes = [(i, r.columns) for i, row in enumerate(reasons) for r in row]
    assert len(changes) > 500  # most of the 300 applicants get several reasons
    base = _probability(model, explained)
    np.testing.assert_allclose(probability, base, rtol=0, atol=1e-12)  # the score comes for free
    recomputed = base[[i for i, _ in changes]] - _probability(model, _substituted(explained, changes, reference))
    impacts = np.array([r.impact for row in reasons for r in row])
    np.testing.assert_allclose(impacts, recomputed, rtol=0, atol=1e-9)
    assert (impacts > 1e-4).all()


@pytest.mark.slow
def test_real_reasons_are_ordered_few_and_name_allowed_inputs(real_model):
    _, _, _, reasons, _ = real_model
    for row in reasons:
        assert len(row) <= 4
        assert [r.impact for r in row] == sorted((r.impact for r in row), reverse=True)
        for reason in row:
            assert reason.column in schema.FEATURE_NAMES and reason.column in reason.columns
            assert set(reason.columns) <= set(schema.FEATURE_NAMES) and not set(reason.columns) & set(EXCLUDED)
            assert reason.text and not reason.text[0].islower()
        assert len({r.columns for r in row}) == len(row)
    json.dumps([[r.as_dict() for r in row] for row in reasons])


@pytest.mark.slow
def test_real_reasons_are_the_largest_drops_among_all_inputs(real_model):
    """Brute force over every input (and group) of 40 applicants: nothing larger was left out."""
    model, explained, reference, reasons, _ = real_model
    grouped = {c for members in GROUPS.values() for c in members}
    units = [tuple(m) for m in GROUPS.values()] + [(c,) for c in FEATURES if c not in grouped and c not in EXCLUDED]
    rows = range(40)
    changes = [(i, unit) for i in rows for unit in units]
    drops = (_probability(model, explained.iloc[list(rows)]).repeat(len(units))
             - _probability(model, _substituted(explained, changes, reference))).reshape(len(rows), len(units))  # fmt: skip
    for i in rows:
        order = sorted((j for j in range(len(units)) if drops[i, j] > 1e-4), key=lambda j: -drops[i, j])[:4]
        assert [units[j] for j in order] == [r.columns for r in reasons[i]]


# -- synthetic sample ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_model(sample_frame) -> Pipeline:
    return _fit("logistic_regression", sample_frame)


@pytest.fixture(scope="module")
def sample_reference(sample_frame) -> dict:
    return reference_applicant(sample_frame)


def test_reference_applicant_is_json_and_typical(sample_frame, sample_reference):
    assert list(sample_reference) == FEATURES
    assert json.loads(json.dumps(sample_reference)) == sample_reference
    assert sample_reference["AGE"] == sample_frame["AGE"].quantile(0.5, interpolation="lower")
    assert sample_reference["PRODUCT"] == sample_frame["PRODUCT"].mode()[0]


def test_reference_counts_missing_as_a_value_and_normalises_text():
    frame = frame_from_records(
        [{"PROFESSIONAL_STATE": None, "RESIDENCIAL_CITY": "Sao Paulo", "MONTHS_IN_THE_JOB": None}] * 3
        + [{"PROFESSIONAL_STATE": "SP", "RESIDENCIAL_CITY": "SAO PAULO", "MONTHS_IN_THE_JOB": 5.0}]
        + [{"PROFESSIONAL_STATE": "SP", "RESIDENCIAL_CITY": "RECIFE", "MONTHS_IN_THE_JOB": 7.0}] * 2
    )
    reference = reference_applicant(frame)
    assert reference["PROFESSIONAL_STATE"] is None  # half the rows have no work address
    assert reference["RESIDENCIAL_CITY"] == "SAO PAULO"  # 4 of 6 once case is ignored
    assert reference["MONTHS_IN_THE_JOB"] == 7  # median of the present values 5, 7, 7


def test_applicant_equal_to_the_reference_gets_no_reasons(sample_model, sample_frame, sample_reference):
    frame = frame_from_records([sample_reference])
    probability, reasons = score_and_explain(sample_model, frame, sample_reference)
    assert reasons == [[]]
    in_a_batch = pd.concat([frame, sample_frame.iloc[:20]], ignore_index=True)
    assert probability[0] == pytest.approx(_probability(sample_model, in_a_batch)[0], abs=1e-12)


def test_missing_values_are_explained_in_words(sample_model, sample_frame, sample_reference):
    record = {c: None for c in FEATURES} | {"PAYMENT_DAY": "10", "AGE": 30.0}
    frame = frame_from_records([record, record])
    reasons = explain(sample_model, frame, sample_reference, max_reasons=60, min_impact=0.0)
    assert _same([reasons[0]], [reasons[1]]) and reasons[0]
    for reason in reasons[0]:
        assert reason.impact > 0
        assert reason.text.startswith(("Missing:", "Age", "Credit cards held")), reason.text


def test_unseen_values_do_not_crash(sample_model, sample_frame, sample_reference):
    frame = sample_frame.iloc[:5].copy()
    frame["RESIDENCIAL_CITY"] = "ATLANTIS"
    frame["RESIDENCIAL_BOROUGH"] = "Nowhere Heights"
    frame["RESIDENCIAL_ZIP_3"] = "000"
    frame["PRODUCT"] = "9"  # not even an allowed code
    frame["FLAG_ACSP_RECORD"] = "Y"
    reasons = explain(sample_model, frame, sample_reference)
    assert len(reasons) == 5
    assert all(r.impact > 0 for row in reasons for r in row)


def test_chunking_index_and_single_rows_do_not_change_results(sample_model, sample_frame, sample_reference):
    frame = sample_frame.iloc[:60].set_axis(np.arange(1000, 1060)[::-1])  # an index that is not 0..n-1
    whole = explain(sample_model, frame, sample_reference)
    assert _same(explain(sample_model, frame, sample_reference, chunk_rows=7), whole)
    assert _same([explain(sample_model, frame.iloc[[i]], sample_reference)[0] for i in (0, 59)], [whole[0], whole[59]])


def test_columns_excluded_and_groups_limit_what_is_explained(sample_model, sample_frame, sample_reference):
    frame = sample_frame.iloc[:80]
    only = explain(sample_model, frame, sample_reference, columns=["AGE", "PAYMENT_DAY", "SEX"], excluded=["SEX"])
    assert {r.column for row in only for r in row} <= {"AGE", "PAYMENT_DAY"}
    singles = explain(sample_model, frame, sample_reference, groups=None)
    assert all(r.columns == (r.column,) and r.group is None for row in singles for r in row)
    grouped = [r for row in explain(sample_model, frame, sample_reference) for r in row if r.group]
    assert all(isinstance(r.value, dict) and set(r.value) == set(r.columns) for r in grouped)
    assert explain(sample_model, frame.iloc[:3], {}) == [[], [], []]  # a model version without a reference
    assert explain(sample_model, frame.iloc[:0], sample_reference) == []


def test_excluded_inputs_are_read_from_a_calibrated_artifact(sample_frame, sample_reference):
    candidate = make_candidate("logistic_regression", excluded=("SEX", "MARITAL_STATUS", "AGE"), random_state=0)
    calibrated = CalibratedClassifierCV(candidate, method="sigmoid", cv=3, ensemble=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = Pipeline([("calibrated_model", calibrated)]).fit(sample_frame[FEATURES], sample_frame[schema.LABEL])
    assert model_excluded(model) == ("SEX", "MARITAL_STATUS", "AGE")
    reasons = explain(model, sample_frame.iloc[:50], sample_reference)
    assert not {"SEX", "MARITAL_STATUS", "AGE"} & {c for row in reasons for r in row for c in r.columns}


def test_wording_covers_every_input_and_reads_plainly():
    assert set(schema.FEATURE_NAMES) <= set(WORDING)
    assert describe("PERSONAL_MONTHLY_INCOME", 350, 500) == "Declared monthly income R$ 350 is low (reference R$ 500)"
    assert describe("FLAG_ACSP_RECORD", "Y", "N") == "Has a record of previous credit delinquency"
    assert describe("PAYMENT_DAY", "25", "10") == "Chose payment day 25 (reference day 10)"
    assert describe("FLAG_RESIDENCIAL_PHONE", "N", "Y") == "No home phone"
    assert describe("MONTHS_IN_RESIDENCE", None, 6) == "Missing: months in current residence (reference 6)"
    assert describe("AGE", 21, 41) == "Age 21: younger than the reference applicant (41)"
    assert describe("PROFESSIONAL_STATE", "SP", None) == "Works in state SP (reference not given)"
    for name in schema.FEATURE_NAMES:  # every column says something for a value, a gap and an odd code
        for value, ref in ((1, 2), ("X", "Y"), (None, 1), ("1", None)):
            assert describe(name, value, ref)


def test_a_row_scores_the_same_alone_and_in_a_batch(sample_model, sample_frame):
    """Reasons (and the API's single-applicant score) assume a row's score ignores its neighbours."""
    frame = sample_frame.iloc[:40]
    alone = np.array([_probability(sample_model, frame.iloc[[i]])[0] for i in range(len(frame))])
    np.testing.assert_allclose(alone, _probability(sample_model, frame), rtol=0, atol=1e-9)
