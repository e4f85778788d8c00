"""The compiled scorer equals the scikit-learn pipeline, and the model is monotone where a lender expects it."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from ml import schema
from ml.candidates import MONOTONE_INPUTS
from ml.data import frame_from_records, load_applications
from ml.scorer import NotCompilableError, compile_pipeline
from ml.tests.strategies import UNICODE_TEXT, typed_frame, valid_values
from ml.tests.test_reasons import fit_calibrated
from ml.training import SCORER_TOLERANCE

FEATURES = list(schema.FEATURE_NAMES)


def _pipeline(model: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame[FEATURES])[:, 1]


def edge_rows(base: pd.DataFrame) -> pd.DataFrame:
    """Rows that reach every corner of the encoders: each allowed code, unseen text and codes,
    every column missing in turn, and the smallest and largest numbers the schema allows."""
    rows: list[dict[str, Any]] = []
    template = {str(name): value for name, value in base.iloc[0].to_dict().items()}
    for column in schema.INPUT_COLUMNS[1:]:
        variants: list[object] = [None]
        if column.kind is schema.Kind.CATEGORY:
            variants += list(column.allowed) + ["never seen"]
        elif column.kind is schema.Kind.TEXT:
            variants += ["ATLANTIS", "são   josé!", "...", "x" * 120]
        else:
            variants += [column.minimum, column.maximum, 0.5 * ((column.minimum or 0) + (column.maximum or 0))]
            if column.kind is schema.Kind.DECIMAL:
                variants += [1234.56, 1e-3]
        for value in variants:
            for source in (template, {str(name): value for name, value in base.iloc[1].to_dict().items()}):
                rows.append({**source, column.name: value})
    everything_missing = {name: None for name in FEATURES}
    return frame_from_records([*rows, everything_missing, {**everything_missing, "AGE": 120.0}])


@pytest.fixture(scope="module")
def files(shared_data_dir) -> dict[str, pd.DataFrame]:
    names = {"modelling": "Modeling", "leaderboard": "Leaderboard", "prediction": "Prediction"}
    return {key: load_applications(shared_data_dir / f"PAKDD2010_{name}_Data.txt").frame for key, name in names.items()}


def _fitted(name: str, modelling: pd.DataFrame) -> tuple[Pipeline, object]:
    """``name`` fitted and calibrated on the 8,000 modelling rows test_reasons fits on (``fit_calibrated`` fits
    them once a session), and its compiled scorer."""
    model = fit_calibrated(name, modelling.sample(frac=1.0, random_state=3).iloc[:8000])
    return model, compile_pipeline(model)


@pytest.fixture(scope="module", params=["soft_voting", "logistic_regression", "gradient_boosting"])
def fitted(request, files) -> tuple[Pipeline, object]:
    return _fitted(request.param, files["modelling"])


@pytest.mark.slow
def test_the_scorer_equals_the_pipeline_on_every_row_of_the_three_files(fitted, files):
    model, scorer = fitted
    for frame in files.values():
        np.testing.assert_allclose(
            scorer.probability_bad(frame), _pipeline(model, frame), rtol=0, atol=SCORER_TOLERANCE
        )


@pytest.mark.slow
def test_the_scorer_equals_the_pipeline_on_edge_rows(fitted, files):
    model, scorer = fitted
    rows = edge_rows(files["leaderboard"])
    np.testing.assert_allclose(scorer.probability_bad(rows), _pipeline(model, rows), rtol=0, atol=SCORER_TOLERANCE)
    # One applicant's fields (the API's path) give the same as the row in a frame.
    for i in range(0, len(rows), 37):
        record = {k: (None if pd.isna(v) else v) for k, v in rows.iloc[i].to_dict().items()}
        assert scorer.probability_bad(record)[0] == pytest.approx(
            _pipeline(model, rows.iloc[[i]])[0], abs=SCORER_TOLERANCE
        )


@pytest.fixture(scope="module")
def voting(files) -> tuple[Pipeline, object]:
    return _fitted("soft_voting", files["modelling"])


@st.composite
def applicants(draw) -> dict:
    return {c.name: draw(valid_values(c, UNICODE_TEXT)) for c in schema.INPUT_COLUMNS[1:]}


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(applicants(), min_size=1, max_size=8))
def test_the_scorer_equals_the_pipeline_on_generated_applicants(voting, records):
    model, scorer = voting
    frame = typed_frame(records, FEATURES)
    np.testing.assert_allclose(scorer.probability_bad(frame), _pipeline(model, frame), rtol=0, atol=SCORER_TOLERANCE)


@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=applicants(), raises=st.lists(st.floats(1.0, 50.0), min_size=1, max_size=4))
def test_more_income_never_raises_the_predicted_risk(voting, record, raises):
    """Raising (or doubling) an applicant's income, or any input with a direction, never raises the risk."""
    _, scorer = voting
    for name, direction in MONOTONE_INPUTS.items():
        start = record[name] if record[name] is not None else 100.0
        column = schema.COLUMNS_BY_NAME[name]
        values = [min(start * factor + factor - 1, column.maximum) for factor in sorted([1.0, 2.0, *raises])]
        frame = frame_from_records([{**record, name: v} for v in values])
        risk = scorer.probability_bad(frame)
        steps = np.diff(risk) * -direction  # for -1: must not rise as the value rises
        assert np.all(steps <= 1e-12), f"{name}: {list(zip(values, risk, strict=True))}"


@pytest.mark.slow
def test_doubling_the_income_of_real_applicants_never_raises_their_risk(voting, files):
    _, scorer = voting
    frame = files["leaderboard"]
    doubled = frame.assign(PERSONAL_MONTHLY_INCOME=frame["PERSONAL_MONTHLY_INCOME"] * 2)
    assert np.all(scorer.probability_bad(doubled) <= scorer.probability_bad(frame) + 1e-12)


def test_the_scorer_survives_pickling_and_scores_a_single_dict(sample_frame):
    model = fit_calibrated("soft_voting", sample_frame)
    scorer = pickle.loads(pickle.dumps(compile_pipeline(model)))
    np.testing.assert_allclose(
        scorer.probability_bad(sample_frame), _pipeline(model, sample_frame), rtol=0, atol=SCORER_TOLERANCE
    )
    record = {k: (None if pd.isna(v) else v) for k, v in sample_frame.iloc[3].to_dict().items()}
    assert scorer.probability_bad(record)[0] == pytest.approx(_pipeline(model, sample_frame.iloc[[3]])[0], abs=1e-12)
    assert scorer.predict_proba(sample_frame.iloc[:2]).shape == (2, 2)


def test_a_model_with_an_unknown_step_is_refused(sample_frame):
    model = copy.deepcopy(fit_calibrated("logistic_regression", sample_frame))  # altered below; the fit is shared
    member = model.steps[0][1].calibrated_classifiers_[0].estimator
    member.steps[1] = ("encode", FunctionTransformer())
    with pytest.raises(NotCompilableError):
        compile_pipeline(model)
    with pytest.raises(NotCompilableError):
        compile_pipeline(member)
