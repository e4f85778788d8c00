"""Training on the real rows: honest cross-validation and no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml import schema
from ml.candidates import CANDIDATE_NAMES, make_candidate
from ml.data import load_applications
from ml.evaluation import cross_validate, ks_statistic, metrics, permutation_importance
from ml.training import TrainingConfig, fit_calibrated, split_holdout, train


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
    # The candidate, it without its monotone constraints (their cost), and it with SEX and MARITAL_STATUS.
    assert list(result.comparison["monotone"]) == ["as configured", "none", "as configured"]
    assert list(result.comparison["excluded"]) == ["SEX, MARITAL_STATUS", "SEX, MARITAL_STATUS", "none"]
    assert set(result.feature_importance.index).isdisjoint(config.excluded)
    assert result.rows == {"total": 600, "development": 480, "holdout": 120}
    proba = result.model.predict_proba(sample_frame[list(schema.FEATURE_NAMES)])[:, 1]
    assert np.all((proba > 0) & (proba < 1))
    # Validation predictions for the cut-off: every development row once, none of the holdout, calibrated.
    validation = result.validation
    assert len(validation) == 480 and validation[schema.ID_COLUMN].is_unique
    assert set(validation[schema.ID_COLUMN]).isdisjoint(result.holdout_ids)
    assert validation["probability_bad"].mean() == pytest.approx(validation[schema.LABEL].mean(), abs=0.01)
    # The compiled scorer every service path uses gives the model's probabilities.
    assert result.scorer is not None and result.reference_probability is not None
    np.testing.assert_allclose(result.scorer.probability_bad(sample_frame), proba, rtol=0, atol=1e-9)
    # The cut-off is chosen on the validation predictions, and the reference applicant is approved by it.
    assert result.threshold_choice is not None and result.threshold_choice.validation_rows == 480
    assert result.reference_probability < result.threshold_choice.threshold
    assert result.reference_probability == pytest.approx(result.scorer.probability_bad(result.reference_applicant)[0])
    assert set(result.features) == set(result.scorer.informative) and "CLERK_TYPE" not in result.features


@pytest.mark.parametrize("name", ["logistic_regression", "soft_voting"])  # a decision function; probabilities
def test_calibrating_on_the_comparisons_folds_is_what_calibrated_classifier_cv_fits(sample_frame, name):
    """The final model's sigmoid reuses the comparison's out-of-fold predictions instead of fitting
    the folds again: the model is the one scikit-learn's own calibration would give."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline

    config = TrainingConfig(n_splits=3, random_state=0)
    X, y = sample_frame[list(schema.FEATURE_NAMES)], sample_frame[schema.LABEL]
    cv = cross_validate(make_candidate(name, random_state=0), X, y, n_splits=3, random_state=0)
    ours = fit_calibrated(name, X, y, config, cv)
    reference = CalibratedClassifierCV(
        make_candidate(name, random_state=0), method="sigmoid", cv=config.folds(), ensemble=False
    )
    theirs = Pipeline([("calibrated_model", reference)]).fit(X, y)
    (a,), (b,) = (model[-1].calibrated_classifiers_[0].calibrators for model in (ours, theirs))
    assert (a.a_, a.b_) == pytest.approx((b.a_, b.b_), rel=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-12)
    assert hasattr(ours[-1], "n_features_in_") == hasattr(theirs[-1], "n_features_in_")
    # The final fit done beside the folds (a single candidate's training) is the same model.
    beside = cross_validate(make_candidate(name, random_state=0), X, y, n_splits=3, random_state=0, fit_all=True)
    assert beside.model is not None and len(beside.folds) == 3
    np.testing.assert_array_equal(beside.out_of_fold, cv.out_of_fold)
    np.testing.assert_allclose(
        fit_calibrated(name, X, y, config, beside).predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-12
    )
    with pytest.raises(ValueError, match="predicted 599 rows"):
        fit_calibrated(name, X, y, config, type(cv)(cv.folds, cv.out_of_fold[1:], cv.out_of_fold_response[1:]))


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


@pytest.mark.slow
def test_folds_fitted_in_parallel_give_the_same_result_and_report_each_fold(sample_frame):
    X, y = sample_frame[list(schema.FEATURE_NAMES)], sample_frame[schema.LABEL]
    candidate = make_candidate("logistic_regression", random_state=0)
    serial = cross_validate(candidate, X, y, n_splits=3, random_state=0)
    done = []
    parallel = cross_validate(candidate, X, y, n_splits=3, random_state=0, n_jobs=2, on_fold=lambda: done.append(1))
    np.testing.assert_array_equal(parallel.out_of_fold, serial.out_of_fold)
    assert [f["roc_auc"] for f in parallel.folds] == [f["roc_auc"] for f in serial.folds]
    assert len(done) == 3


def test_importance_measured_in_parallel_is_the_same_and_names_the_informative_inputs(sample_frame):
    X, y = sample_frame[list(schema.FEATURE_NAMES)], sample_frame[schema.LABEL]
    model = make_candidate("logistic_regression", random_state=0).fit(X, y)
    serial = permutation_importance(model, X, y, n_repeats=2, random_state=4, block=20)
    parallel = permutation_importance(model, X, y, n_repeats=2, random_state=4, block=20, n_jobs=2)
    pd.testing.assert_series_equal(parallel, serial)
    assert list(serial.index) == list(X.columns)
    assert serial.max() > 0.005 and (serial[["SEX", "MARITAL_STATUS"]] == 0).all()  # excluded: never used


def test_refit_all_fits_every_labelled_row_after_the_holdout_is_measured(sample_frame):
    """train --refit-all: the holdout figures are the model's before the refit; the artifact is the chosen
    pipeline fitted on all rows inside the sigmoid CalibratedClassifierCV would fit over them (honest: on
    out-of-fold predictions), its scorer checked against it; the cut-off is chosen on those predictions."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline

    config = TrainingConfig(
        candidates=("logistic_regression",),
        n_splits=3,
        random_state=0,
        importance_rows=100,
        variants=False,
        refit_all=True,
    )
    result = train(sample_frame, config, progress=lambda _: None)
    X, y = sample_frame[list(schema.FEATURE_NAMES)], sample_frame[schema.LABEL]
    reference = Pipeline(
        [
            (
                "calibrated_model",
                CalibratedClassifierCV(
                    make_candidate("logistic_regression", random_state=0),
                    method="sigmoid",
                    cv=config.folds(),
                    ensemble=False,
                ),
            )
        ]
    ).fit(X, y)
    np.testing.assert_allclose(result.model.predict_proba(X), reference.predict_proba(X), rtol=0, atol=1e-12)
    assert result.scorer is not None
    np.testing.assert_allclose(
        result.scorer.probability_bad(sample_frame), result.model.predict_proba(X)[:, 1], rtol=0, atol=1e-9
    )
    # The holdout was measured once, on the model fitted before the refit (which has seen it since).
    holdout = sample_frame[sample_frame[schema.ID_COLUMN].isin(result.holdout_ids)]
    assert len(result.holdout_ids) == 120 and result.rows["holdout"] == 120
    assert result.holdout_metrics == metrics(result.holdout_label, result.holdout_probability)
    final = result.model.predict_proba(holdout[list(schema.FEATURE_NAMES)])[:, 1]
    assert np.abs(np.sort(final) - np.sort(result.holdout_probability)).max() > 1e-6
    assert result.refit["rows"] == 600 and "all 600 labelled rows" in result.refit["calibration"]
    assert set(result.refit["cv_metrics"]) >= {"roc_auc", "roc_auc_std", "ks", "brier"}
    # The cut-off and the drift reference: out-of-fold predictions over every row, the holdout's included.
    assert len(result.validation) == 600 and set(result.holdout_ids) <= set(result.validation[schema.ID_COLUMN])
    assert result.threshold_choice is not None
    assert result.threshold_choice.validation_rows == 600 and result.drift_reference["rows"] == 600


def test_refit_all_needs_a_holdout(sample_frame):
    with pytest.raises(ValueError, match="needs a holdout"):
        train(sample_frame, TrainingConfig(holdout_fraction=0.0, refit_all=True), progress=lambda _: None)
