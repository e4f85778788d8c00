"""Training on the real rows: honest cross-validation and no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import schema
from ml.candidates import CANDIDATE_NAMES, make_candidate
from ml.data import load_applications
from ml.evaluation import cross_validate, ks_statistic, metrics
from ml.training import TrainingConfig, split_holdout, train


@pytest.fixture(scope="module")
def real_subset(shared_data_dir) -> pd.DataFrame:
    frame = load_applications(shared_data_dir / "PAKDD2010_Modeling_Data.txt", require_label=True).frame
    return frame.sample(n=8000, random_state=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", CANDIDATE_NAMES)
def test_shuffled_labels_give_chance_level_auc(real_subset, name):
    """Target encoding and every other fitted step live inside the folds, so nothing leaks."""
    X = real_subset[list(schema.FEATURE_NAMES)]
    shuffled = real_subset[schema.LABEL].sample(frac=1, random_state=0).set_axis(real_subset.index)
    cv = cross_validate(make_candidate(name, random_state=0), X, shuffled, n_splits=3, random_state=0)
    assert abs(cv.mean("roc_auc") - 0.5) < 0.03


@pytest.mark.slow
def test_real_labels_beat_chance_clearly(real_subset):
    X, y = real_subset[list(schema.FEATURE_NAMES)], real_subset[schema.LABEL]
    cv = cross_validate(make_candidate("logistic_regression", random_state=0), X, y, n_splits=3, random_state=0)
    assert cv.mean("roc_auc") > 0.6


def test_holdout_is_stratified_disjoint_and_reproducible(sample_frame):
    config = TrainingConfig(holdout_fraction=0.25, random_state=3)
    dev, holdout = split_holdout(sample_frame, config)
    again, _ = split_holdout(sample_frame, config)
    assert len(holdout) == 150 and set(dev.index).isdisjoint(holdout.index)
    assert dev.index.equals(again.index)
    assert abs(holdout[schema.LABEL].mean() - sample_frame[schema.LABEL].mean()) < 0.01


def test_training_result_records_everything_the_registry_needs(sample_frame):
    config = TrainingConfig(candidates=("logistic_regression",), n_splits=3, random_state=0, importance_rows=200)
    result = train(sample_frame, config, progress=lambda _: None)
    assert result.algorithm == "logistic_regression"
    assert len(result.comparison) == 2  # the candidate, and it with SEX and MARITAL_STATUS
    assert set(result.feature_importance.index).isdisjoint(config.excluded)
    assert result.rows == {"total": 600, "development": 480, "holdout": 120}
    proba = result.model.predict_proba(sample_frame[list(schema.FEATURE_NAMES)])[:, 1]
    assert np.all((proba > 0) & (proba < 1))
    # Validation predictions for the cut-off: every development row once, none of the holdout, calibrated.
    validation = result.validation
    assert len(validation) == 480 and validation[schema.ID_COLUMN].is_unique
    assert set(validation[schema.ID_COLUMN]).isdisjoint(result.holdout_ids)
    assert validation["probability_bad"].mean() == pytest.approx(validation[schema.LABEL].mean(), abs=0.01)


def test_metrics_on_a_known_ranking():
    y = np.array([0, 0, 1, 1])
    m = metrics(y, np.array([0.1, 0.4, 0.35, 0.8]))
    assert m["roc_auc"] == pytest.approx(0.75) and m["gini"] == pytest.approx(0.5)
    assert ks_statistic(y, np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(1.0)


def _cv(aucs: list[float], seconds: float):
    from ml.evaluation import CrossValidation

    return CrossValidation([{"roc_auc": a, "fit_seconds": seconds} for a in aucs], np.zeros(1))


def test_the_quickest_candidate_within_one_standard_error_is_chosen():
    from ml.training import choose_candidate

    results = {
        "ensemble": _cv([0.650, 0.660, 0.655, 0.645, 0.650], 9.0),  # mean 0.652, SE ~0.0023
        "boosting": _cv([0.648, 0.658, 0.653, 0.643, 0.648], 5.0),  # mean 0.650: within one SE
        "logistic": _cv([0.640, 0.650, 0.645, 0.635, 0.640], 1.0),
    }  # mean 0.642: clearly worse
    assert choose_candidate(results) == "boosting"
    results["boosting"] = _cv([0.640, 0.650, 0.645, 0.635, 0.640], 5.0)
    assert choose_candidate(results) == "ensemble"
