"""Decision reasons: faithful to the model on real rows, a reason for every decline, robust on odd inputs."""

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
from ml.reasons import Reason, _combined_reason, _raw_columns, _units, explain, score_and_explain
from ml.reference import GROUPS, approved_reference, reference_applicant
from ml.scorer import CompiledScorer, compile_pipeline
from ml.wording import WORDING, describe

FEATURES = list(schema.FEATURE_NAMES)
EXCLUDED = schema.DEFAULT_EXCLUDED


_FITTED: dict[tuple, Pipeline] = {}


def fit_calibrated(name: str, frame: pd.DataFrame, *, excluded=EXCLUDED, folds: int = 3) -> Pipeline:
    """A candidate calibrated as training does (sigmoid on cross-validated predictions).

    Fitted once a session for the same rows and arguments (the fits are seeded: the same model), as the
    scorer's tests fit the same candidates on the same rows as these; a test must not alter the model.
    """
    key = (name, tuple(frame.index), len(frame), tuple(excluded), folds)
    if key not in _FITTED:
        candidate = make_candidate(name, excluded=excluded, random_state=0)
        calibrated = CalibratedClassifierCV(candidate, method="sigmoid", cv=folds, ensemble=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _FITTED[key] = Pipeline([("calibrated_model", calibrated)]).fit(frame[FEATURES], frame[schema.LABEL])
    return _FITTED[key]


def _substituted(frame: pd.DataFrame, changes: list[tuple[int, tuple[str, ...]]], reference: dict) -> pd.DataFrame:
    """Copies of rows with columns set to the reference, built record by record (not as reasons.py does)."""
    records = []
    for position, columns in changes:
        record = {str(k): (None if pd.isna(v) else v) for k, v in frame.iloc[position].to_dict().items()}
        record.update({c: reference[c] for c in columns})
        records.append(record)
    return frame_from_records(records)[FEATURES]


def _same(a: list[list[Reason]], b: list[list[Reason]]) -> bool:
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
def real(shared_data_dir) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_applications(shared_data_dir / "PAKDD2010_Modeling_Data.txt", require_label=True).frame
    shuffled = frame.sample(frac=1.0, random_state=3)
    return shuffled.iloc[:8000], shuffled.iloc[8000:]


@pytest.fixture(scope="module", params=["logistic_regression", "soft_voting"])
def real_model(request, real) -> tuple[Pipeline, CompiledScorer, pd.DataFrame, dict, float]:
    """A model fitted on 8,000 rows, its scorer, the other 32,000 rows, the approved reference, a cut-off."""
    train, others = real
    model = fit_calibrated(request.param, train)
    scorer = compile_pipeline(model)
    probability = scorer.probability_bad(train)
    threshold = float(np.quantile(probability, 0.55))  # about 45% declined, as at the profit cut-off
    reference, risk = approved_reference(
        train[FEATURES], probability, threshold, lambda r: scorer.probability_bad(r)[0]
    )
    assert risk < threshold
    return model, scorer, others, reference, threshold


@pytest.mark.slow
def test_every_declined_row_gets_a_faithful_reason(real_model):
    """All 32,000 unseen development rows: each declined one has 1 to 4 reasons, each an exact drop in risk."""
    model, scorer, others, reference, threshold = real_model
    probability, reasons = score_and_explain(scorer, others, reference, explain_if=lambda p: p >= threshold)
    declined = np.flatnonzero(probability >= threshold)
    assert 0.3 < len(declined) / len(others) < 0.7
    assert all(1 <= len(reasons[i]) <= 4 for i in declined)
    assert not any(reasons[i] for i in np.flatnonzero(probability < threshold))
    # Each reason of 300 declined rows, checked against the scikit-learn pipeline itself.
    sample = declined[:300]
    changes = [(int(i), r.columns) for i in sample for r in reasons[i]]
    stated = np.array([r.impact for i in sample for r in reasons[i]])
    drops = _probability(model, others.iloc[[i for i, _ in changes]]) - _probability(
        model, _substituted(others, changes, reference)
    )
    np.testing.assert_allclose(drops, stated, rtol=0, atol=1e-9)
    assert np.all(stated > 0)


@pytest.mark.slow
def test_real_reasons_are_ordered_few_and_name_allowed_inputs(real_model):
    _, scorer, others, reference, _ = real_model
    reasons = explain(scorer, others.iloc[:500], reference)
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
    """Brute force over every input (and group) of 40 applicants, with the pipeline: nothing larger was left out."""
    model, scorer, others, reference, _ = real_model
    reasons = explain(scorer, others.iloc[:40], reference)
    grouped = {c for members in GROUPS.values() for c in members}
    units = [tuple(m) for m in GROUPS.values()] + [(c,) for c in FEATURES if c not in grouped and c not in EXCLUDED]
    rows = range(40)
    changes = [(i, unit) for i in rows for unit in units]
    drops = (
        _probability(model, others.iloc[list(rows)]).repeat(len(units))
        - _probability(model, _substituted(others, changes, reference))
    ).reshape(len(rows), len(units))
    for i in rows:
        order = sorted((j for j in range(len(units)) if drops[i, j] > 1e-4), key=lambda j: -drops[i, j])[:4]
        assert [units[j] for j in order] == [r.columns for r in reasons[i]]


@pytest.mark.slow
def test_a_reason_for_inputs_taken_together_is_exact(real_model):
    """The fallback for a row no single input explains: its inputs together lower the risk by the impact."""
    model, scorer, others, reference, threshold = real_model
    row = int(np.flatnonzero(scorer.probability_bad(others.iloc[:200]) >= threshold)[0])
    unseen: dict[str, int] = {}
    encoded = scorer.encode(others, unseen=unseen)
    base = scorer.encode(reference, unseen=unseen)
    units = _units([c for c in FEATURES if c in scorer.informative], GROUPS)
    values = _raw_columns(others, units)
    own = float(scorer.probability_bad(others.iloc[[row]])[0])
    reason = _combined_reason(scorer, encoded, base, units, row, own, values, reference)
    assert reason is not None and reason.impact > 0
    drop = _probability(model, others.iloc[[row]]) - _probability(
        model, _substituted(others, [(row, reason.columns)], reference)
    )
    assert drop[0] == pytest.approx(reason.impact, abs=1e-9)


def test_the_reference_is_an_approved_applicant(sample_frame):
    model = fit_calibrated("logistic_regression", sample_frame)
    scorer = compile_pipeline(model)
    probability = scorer.probability_bad(sample_frame)
    threshold = float(np.quantile(probability, 0.3))  # strict: the typical applicant is declined
    assert scorer.probability_bad(reference_applicant(sample_frame[FEATURES]))[0] >= threshold
    reference, risk = approved_reference(
        sample_frame[FEATURES], probability, threshold, lambda r: scorer.probability_bad(r)[0]
    )
    assert risk == pytest.approx(scorer.probability_bad(reference)[0]) and risk < threshold
    assert json.loads(json.dumps(reference)) == reference


# -- synthetic sample ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_scorer(sample_frame) -> CompiledScorer:
    return compile_pipeline(fit_calibrated("logistic_regression", sample_frame))


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


def test_applicant_equal_to_the_reference_gets_no_reasons(sample_scorer, sample_frame, sample_reference):
    probability, reasons = score_and_explain(sample_scorer, dict(sample_reference), sample_reference)
    assert reasons == [[]]
    in_a_batch = pd.concat([frame_from_records([sample_reference]), sample_frame.iloc[:20]], ignore_index=True)
    assert probability[0] == pytest.approx(sample_scorer.probability_bad(in_a_batch)[0], abs=1e-12)


def test_missing_values_are_explained_as_not_given(sample_scorer, sample_frame, sample_reference):
    record = {c: None for c in FEATURES} | {"PAYMENT_DAY": "10", "AGE": 30.0}
    frame = frame_from_records([record, record])
    reasons = explain(sample_scorer, frame, sample_reference, max_reasons=60, min_impact=0.0)
    assert _same([reasons[0]], [reasons[1]]) and reasons[0]
    as_dict = explain(sample_scorer, record, sample_reference, max_reasons=60, min_impact=0.0)
    assert _same(as_dict, [reasons[0]])
    for reason in reasons[0]:
        assert reason.impact > 0
        assert "not given" in reason.text or reason.text.startswith("Age"), reason.text


def test_unseen_values_do_not_crash(sample_scorer, sample_frame, sample_reference):
    frame = sample_frame.iloc[:5].copy()
    frame["RESIDENCIAL_CITY"] = "ATLANTIS"
    frame["RESIDENCIAL_BOROUGH"] = "Nowhere Heights"
    frame["RESIDENCIAL_ZIP_3"] = "000"
    frame["PRODUCT"] = "9"  # not even an allowed code
    frame["FLAG_ACSP_RECORD"] = "Y"
    reasons = explain(sample_scorer, frame, sample_reference)
    assert len(reasons) == 5
    assert all(r.impact > 0 for row in reasons for r in row)


def test_chunking_index_and_single_rows_do_not_change_results(sample_scorer, sample_frame, sample_reference):
    frame = sample_frame.iloc[:60].set_axis(np.arange(1000, 1060)[::-1])  # an index that is not 0..n-1
    whole = explain(sample_scorer, frame, sample_reference)
    assert _same(explain(sample_scorer, frame, sample_reference, chunk_rows=7), whole)
    assert _same([explain(sample_scorer, frame.iloc[[i]], sample_reference)[0] for i in (0, 59)], [whole[0], whole[59]])


def test_only_the_rows_asked_for_are_explained(sample_scorer, sample_frame, sample_reference):
    frame = sample_frame.iloc[:80]
    probability, everyone = score_and_explain(sample_scorer, frame, sample_reference)
    cut = float(np.median(probability))
    again, declined = score_and_explain(sample_scorer, frame, sample_reference, explain_if=lambda p: p >= cut)
    np.testing.assert_array_equal(again, probability)
    for i in range(len(frame)):
        assert declined[i] == (everyone[i] if probability[i] >= cut else [])


def test_columns_and_groups_limit_what_is_explained(sample_scorer, sample_frame, sample_reference):
    frame = sample_frame.iloc[:80]
    only = explain(sample_scorer, frame, sample_reference, columns=["AGE", "PAYMENT_DAY", "SEX"])
    assert {r.column for row in only for r in row} <= {"AGE", "PAYMENT_DAY"}  # SEX is excluded by the model
    singles = explain(sample_scorer, frame, sample_reference, groups=None)
    assert all(r.columns == (r.column,) and r.group is None for row in singles for r in row)
    grouped = [r for row in explain(sample_scorer, frame, sample_reference) for r in row if r.group]
    assert all(isinstance(r.value, dict) and set(r.value) == set(r.columns) for r in grouped)
    assert explain(sample_scorer, frame.iloc[:3], {}) == [[], [], []]  # a model version without a reference
    assert explain(sample_scorer, frame.iloc[:0], sample_reference) == []


def test_excluded_inputs_are_never_reasons(sample_frame, sample_reference):
    scorer = compile_pipeline(
        fit_calibrated("logistic_regression", sample_frame, excluded=("SEX", "MARITAL_STATUS", "AGE"))
    )
    assert scorer.excluded == ("SEX", "MARITAL_STATUS", "AGE")
    reasons = explain(scorer, sample_frame.iloc[:50], sample_reference)
    assert not {"SEX", "MARITAL_STATUS", "AGE"} & {c for row in reasons for r in row for c in r.columns}


def test_wording_covers_every_input_and_reads_plainly():
    assert set(schema.FEATURE_NAMES) <= set(WORDING)
    assert describe("PERSONAL_MONTHLY_INCOME", 350, 500) == "Declared monthly income R$ 350 is low (reference R$ 500)"
    assert describe("FLAG_ACSP_RECORD", "Y", "N") == "Has a record of previous credit delinquency"
    assert describe("PAYMENT_DAY", "25", "10") == "Chose payment day 25 (reference day 10)"
    assert describe("FLAG_RESIDENCIAL_PHONE", "N", "Y") == "No home phone"
    assert describe("MONTHS_IN_RESIDENCE", None, 6) == "Months in current residence not given (reference 6)"
    assert describe("AGE", 21, 41) == "Age 21: younger than the reference applicant (41)"
    assert describe("PROFESSIONAL_STATE", "SP", None) == "Works in state SP (reference not given)"
    for name in schema.FEATURE_NAMES:  # every column says something for a value, a gap and an odd code
        for value, ref in ((1, 2), ("X", "Y"), (None, 1), ("1", None)):
            assert describe(name, value, ref)
