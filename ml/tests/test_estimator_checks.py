"""The custom estimators of ``ml`` pass scikit-learn's estimator checks; those that cannot apply say why.

https://scikit-learn.org/stable/developers/develop.html#rolling-your-own-estimator
"""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from ml import estimators, features
from ml.estimators import BoundedLogisticRegression, MonotoneBoosting, MonotoneRates
from ml.features import ApplicationFeatures, FrequencyEncoder, KeyCodes, QuantileBins, QuantileCodes
from ml.sample import synthetic_applications

_DATAFRAME_ONLY = (
    "takes raw applications: a DataFrame with the schema's column names (it derives features from named "
    "inputs); the check passes a NumPy array. test_application_features_follow_the_rules_on_applications "
    "checks the same rules on a DataFrame"
)
_BINARY_TARGET = (
    "codes a bin by its bad rate, so its target must be binary (good/bad); the check fits on three or four classes"
)
_NUMBERS_COERCED = (
    "reads its columns with pd.to_numeric(errors='coerce'), as the typed frame reads them: a value that is "
    "no number is missing, not an error"
)

_APPLICATION_FEATURES_FAILING = (
    "check_complex_data",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimators_dtypes",
    "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit1d",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
)
_MULTICLASS_TARGET_CHECKS = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_fit_returns_self",
    "check_estimators_overwrite_params",
    "check_f_contiguous_array_estimator",
    "check_fit2d_predict1d",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
)
EXPECTED_FAILED_CHECKS: dict[type, dict[str, str]] = {
    ApplicationFeatures: dict.fromkeys(_APPLICATION_FEATURES_FAILING, _DATAFRAME_ONLY),
    MonotoneRates: dict.fromkeys(_MULTICLASS_TARGET_CHECKS, _BINARY_TARGET),
    QuantileBins: {"check_dtype_object": _NUMBERS_COERCED},
    QuantileCodes: {"check_dtype_object": _NUMBERS_COERCED},
}

ESTIMATORS = [
    KeyCodes(),
    FrequencyEncoder(),
    QuantileBins(),
    QuantileCodes(),
    MonotoneRates(),
    # The defaults are sized for tens of thousands of rows (no leaf under 200): the checks fit on a
    # few dozen, where such a model cannot split at all.
    MonotoneBoosting(min_child_samples=5, n_estimators=50),
    BoundedLogisticRegression(),
    ApplicationFeatures(),
]


def _expected_failed_checks(estimator: BaseEstimator) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS.get(type(estimator), {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_custom_estimators_pass_scikit_learns_checks(estimator, check):
    check(estimator)


def test_every_custom_estimator_of_ml_is_checked():
    defined = {
        cls
        for module in (estimators, features)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseEstimator) and cls.__module__ == module.__name__
    }
    assert defined == {type(e) for e in ESTIMATORS}


def test_application_features_follow_the_rules_on_applications():
    """What the skipped checks check, on the input it takes: parameters kept, fit returns self and is
    repeatable, a pickled copy transforms the same, an unfitted one refuses."""
    frame = synthetic_applications(300, seed=4, with_label=False)
    builder = ApplicationFeatures(drop_constant=False)
    params = builder.get_params()
    assert clone(builder).get_params() == params
    assert builder.fit(frame) is builder and builder.get_params() == params
    first = builder.transform(frame)
    pd.testing.assert_frame_equal(builder.fit(frame).transform(frame), first)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(builder)).transform(frame), first)
    assert list(first.columns) == list(builder.get_feature_names_out())
    subset = builder.transform(frame.iloc[:10])
    pd.testing.assert_frame_equal(subset, first.iloc[:10])
    try:
        ApplicationFeatures().transform(frame)
    except Exception as exc:  # noqa: BLE001 - the type is what is checked
        assert type(exc).__name__ == "NotFittedError"
    else:
        raise AssertionError("an unfitted ApplicationFeatures transformed")
    assert np.isfinite(first.select_dtypes("number").to_numpy(dtype=float, na_value=0.0)).all()
