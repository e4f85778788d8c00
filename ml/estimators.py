"""Estimators that keep a lender's expected directions: monotone boosting, rates and a bounded scorecard.

A lender cannot send "your income is too high" as a reason for a decline, so the model must never
predict more risk for more income (and the other inputs of :data:`ml.candidates.MONOTONE_INPUTS`).
Each piece here holds that by construction:

* :class:`MonotoneBoosting` -- gradient-boosted trees (LightGBM) with monotone constraints on the
  named features. LightGBM's own predictor also scores the compiled model (:mod:`ml.scorer`).
* :class:`MonotoneRates` -- a numeric feature as the log-odds of its quantile bin's bad rate,
  smoothed and made monotone by isotonic regression: a weight of evidence that only moves one way.
* :class:`BoundedLogisticRegression` -- a logistic regression whose coefficients on the named
  features cannot be negative, so a monotone weight of evidence stays monotone in the score (an
  unbounded fit gives collinear income features opposite signs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from ml.features import _FittedColumns, _floats, quantile_codes, quantile_edges


def _names(X: Any) -> list[str]:
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    return [f"x{i}" for i in range(np.asarray(X).shape[1])]


def _start_fit(estimator: BaseEstimator, X: Any, y: Any, *, allow_nan: bool = False) -> tuple[list[str], np.ndarray]:
    """The feature names and the 0/1 target; records ``classes_`` and the features seen in fit.

    ``X`` and ``y`` are checked as scikit-learn checks them (dense, two-dimensional, as many rows
    as labels, finite unless ``allow_nan``; a class label, not a continuous target).
    """
    _, y = check_X_y(X, y, accept_sparse=False, ensure_all_finite="allow-nan" if allow_nan else True)
    check_classification_targets(y)
    names = _names(X)
    estimator.classes_, target = _binary(y)
    estimator.feature_names_in_ = np.asarray(names, dtype=object)
    estimator.n_features_in_ = len(names)
    return names, target


def _matrix(estimator: BaseEstimator, X: Any, *, allow_nan: bool = False) -> np.ndarray:
    """``X`` to predict on, checked as scikit-learn checks it: dense, 2-D, as many features as in fit."""
    check_is_fitted(estimator)
    matrix = check_array(X, accept_sparse=False, dtype=float, ensure_all_finite="allow-nan" if allow_nan else True)
    if matrix.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {matrix.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return matrix


def _binary(y: Any) -> tuple[np.ndarray, np.ndarray]:
    classes, target = np.unique(np.asarray(y), return_inverse=True)
    if len(classes) != 2:
        raise ValueError(
            f"Only binary classification is supported: a binary target is needed; found {len(classes)} classes"
        )
    return classes, target.astype(float)


class MonotoneBoosting(ClassifierMixin, BaseEstimator):
    """LightGBM gradient boosting with monotone constraints by feature name.

    Parameters
    ----------
    monotone:
        ``(feature, direction)`` pairs: 1 where the predicted risk may only rise with the feature,
        -1 where it may only fall. Features not named are free.
    learning_rate, n_estimators, num_leaves, min_child_samples, feature_fraction_bynode, reg_lambda:
        LightGBM's parameters (https://lightgbm.readthedocs.io/en/stable/Parameters.html).
    monotone_method:
        LightGBM's ``monotone_constraints_method``: "advanced" constrains each split less than
        "basic" and costs less accuracy.
    categorical:
        Features holding integer codes to split on as categories (LightGBM's native handling).
    random_state:
        Seed of the feature sampling; training is deterministic (one thread, ``deterministic``).
    """

    def __init__(
        self,
        monotone: Sequence[tuple[str, int]] = (),
        learning_rate: float = 0.05,
        n_estimators: int = 300,
        num_leaves: int = 7,
        min_child_samples: int = 200,
        feature_fraction_bynode: float = 0.5,
        reg_lambda: float = 1.0,
        monotone_method: str = "advanced",
        categorical: Sequence[str] = (),
        random_state: int = 0,
    ) -> None:
        self.monotone = monotone
        self.categorical = categorical
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction_bynode = feature_fraction_bynode
        self.reg_lambda = reg_lambda
        self.monotone_method = monotone_method
        self.random_state = random_state

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # good or bad: a binary target only
        tags.input_tags.allow_nan = True  # LightGBM sends a missing value down a branch of its own
        return tags

    def fit(self, X: Any, y: Any) -> MonotoneBoosting:
        names, target = _start_fit(self, X, y, allow_nan=True)
        directions = dict(self.monotone)
        self.monotone_constraints_ = [int(directions.get(name, 0)) for name in names]
        params = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction_bynode": self.feature_fraction_bynode,
            "lambda_l2": self.reg_lambda,
            "monotone_constraints": self.monotone_constraints_,
            "monotone_constraints_method": self.monotone_method,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,
            "verbose": -1,
        }
        categorical = [name for name in names if name in set(self.categorical)]
        data = lightgbm.Dataset(
            np.asarray(X, dtype=float),
            label=target,
            feature_name=names,
            categorical_feature=categorical or "auto",
            free_raw_data=True,
        )
        self.booster_ = lightgbm.train(params, data, num_boost_round=self.n_estimators)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        matrix = _matrix(self, X, allow_nan=True)
        bad = np.asarray(self.booster_.predict(matrix, num_threads=1))
        return np.column_stack([1 - bad, bad])

    def predict(self, X: Any) -> np.ndarray:
        bad = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[bad.astype(int)]


class MonotoneRates(_FittedColumns, TransformerMixin, BaseEstimator):
    """Numeric columns as the log-odds of their quantile bin's bad rate, monotone where asked.

    Each column is cut at its training quantiles (ties merged); each bin's bad rate is shrunk
    towards the overall rate by ``smoothing`` pseudo-rows and, for a column with a direction, made
    monotone across the bins by isotonic regression weighted by the bins' sizes. Missing values
    keep a rate of their own (the overall rate if training had none). Values beyond the training
    range fall in the end bins, so the coding stays monotone over every number.

    Parameters
    ----------
    directions:
        ``(column, direction)`` pairs: 1 where the rate may only rise with the value, -1 where it
        may only fall. Other columns keep their shrunk bin rates.
    n_bins:
        Quantile bins before ties are merged.
    smoothing:
        Pseudo-rows at the overall rate added to every bin.
    """

    def __init__(self, directions: Sequence[tuple[str, int]] = (), n_bins: int = 20, smoothing: float = 20.0) -> None:
        self.directions = directions
        self.n_bins = n_bins
        self.smoothing = smoothing

    def fit(self, X: Any, y: Any) -> MonotoneRates:
        X = self._start_fit(X)
        _, target = _binary(y)
        prior = float(target.mean())
        directions = dict(self.directions)
        self.edges_, self.log_odds_, self.missing_log_odds_ = {}, {}, {}
        for column in self.feature_names_in_:
            values = _floats(X[column].to_numpy())
            known = ~np.isnan(values)
            edges = quantile_edges(values, self.n_bins)
            bins = quantile_codes(values[known], edges).astype(int)
            counts = np.bincount(bins, minlength=len(edges) + 1).astype(float)
            bads = np.bincount(bins, weights=target[known], minlength=len(edges) + 1)
            rates = (bads + self.smoothing * prior) / (counts + self.smoothing)
            if directions.get(column, 0) and len(rates) > 1:
                order = np.arange(len(rates), dtype=float)
                isotonic = IsotonicRegression(increasing=directions[column] > 0)
                rates = isotonic.fit_transform(order, rates, sample_weight=counts + self.smoothing)
            missing = ~known
            missing_rate = (target[missing].sum() + self.smoothing * prior) / (missing.sum() + self.smoothing)
            self.edges_[column] = edges
            self.log_odds_[column] = _log_odds(rates)
            self.missing_log_odds_[column] = float(_log_odds(np.array([missing_rate]))[0])
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "edges_")
        X = self._columns_of(X)
        out = np.empty(X.shape, dtype=float)
        for j, column in enumerate(self.feature_names_in_):
            codes = quantile_codes(_floats(X[column].to_numpy()), self.edges_[column]).astype(int)
            out[:, j] = np.where(codes < 0, self.missing_log_odds_[column], self.log_odds_[column][codes])
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "edges_")
        return self.feature_names_in_.copy()


def _log_odds(rates: np.ndarray) -> np.ndarray:
    clipped = np.clip(rates, 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))


class BoundedLogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-regularised logistic regression whose coefficients on ``nonnegative`` features are >= 0.

    The objective is scikit-learn's (``0.5 * ||w||^2 + C * sum of log-losses``, intercept not
    penalised), minimised by L-BFGS-B with the bounds. Without bounds it gives the same model as
    ``LogisticRegression(C=C)``.

    Parameters
    ----------
    C:
        Inverse of the regularisation strength.
    nonnegative:
        Feature names whose coefficient may not be negative.
    max_iter, tol:
        Of the L-BFGS-B solver.
    """

    def __init__(
        self, C: float = 1.0, nonnegative: Sequence[str] = (), max_iter: int = 2000, tol: float = 1e-8
    ) -> None:
        self.C = C
        self.nonnegative = nonnegative
        self.max_iter = max_iter
        self.tol = tol

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # good or bad: a binary target only
        return tags

    def fit(self, X: Any, y: Any) -> BoundedLogisticRegression:
        names, target = _start_fit(self, X, y)
        matrix = np.asarray(X, dtype=float)
        sign = 2 * target - 1
        bounded = set(self.nonnegative)
        bounds = [(0.0, None) if name in bounded else (None, None) for name in names] + [(None, None)]

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = theta[:-1], theta[-1]
            margin = sign * (matrix @ w + b)
            value = 0.5 * w @ w + self.C * np.logaddexp(0, -margin).sum()
            residual = -self.C * sign * expit(-margin)
            return value, np.concatenate([w + matrix.T @ residual, [residual.sum()]])

        start = np.zeros(len(names) + 1)
        result = minimize(
            loss,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": self.max_iter, "gtol": self.tol},
        )
        self.coef_ = result.x[:-1].reshape(1, -1)
        self.intercept_ = result.x[-1:].copy()
        self.n_iter_ = np.array([result.nit])
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return _matrix(self, X) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X: Any) -> np.ndarray:
        bad = expit(self.decision_function(X))
        return np.column_stack([1 - bad, bad])

    def predict(self, X: Any) -> np.ndarray:
        bad = self.decision_function(X) > 0
        return self.classes_[bad.astype(int)]


def feature_directions(inputs: Mapping[str, int], derived_from: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """The monotone direction of every feature that must have one, from the inputs' directions.

    An input keeps its own direction; a derived feature takes the direction its constrained inputs
    give it through :data:`ml.features.DERIVED_FROM` (an input that lowers the feature flips the
    sign). A derived feature pulled two ways by two constrained inputs is an error: no direction
    would keep both monotone.
    """
    directions = dict(inputs)
    for feature, parts in derived_from.items():
        implied = {inputs[name] * sign for name, sign in parts.items() if name in inputs}
        if len(implied) > 1:
            raise ValueError(f"{feature} would have to rise and fall at once: its inputs' directions conflict")
        if implied:
            directions[feature] = implied.pop()
    return directions
