"""Training: compare the candidates by cross-validation, calibrate the best, measure it on a holdout.

The labelled rows are split once, stratified and seeded: a holdout share is set aside before
anything is fitted (the lending simulation's default test set) and the rest is the development
set. Candidates are compared by stratified k-fold CV on the development set only. The best is
refitted on the whole development set inside a Platt (sigmoid) calibration, which keeps the
ranking and so the AUC, and is then measured once on the holdout.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

from ml import schema
from ml.candidates import CANDIDATE_NAMES, make_candidate
from ml.evaluation import CrossValidation, cross_validate, metrics, permutation_importance
from ml.reasons import reference_applicant

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingConfig:
    excluded: tuple[str, ...] = schema.DEFAULT_EXCLUDED
    candidates: tuple[str, ...] = CANDIDATE_NAMES
    n_splits: int = 5
    holdout_fraction: float = 0.2
    random_state: int = 42
    importance_rows: int = 4000

    def folds(self) -> StratifiedKFold:
        """The development rows' cross-validation folds (stratified, seeded): the same on every call."""
        return StratifiedKFold(n_splits=self.n_splits, shuffle=True, random_state=self.random_state)


@dataclass
class TrainingResult:
    model: Pipeline
    algorithm: str
    config: TrainingConfig
    comparison: pd.DataFrame  # one row a candidate (and the best with the excluded attributes)
    cv_metrics: dict[str, float]
    holdout_metrics: dict[str, float]
    feature_importance: pd.Series
    features: list[str]
    hyperparameters: dict[str, Any]
    rows: dict[str, int]
    reference_applicant: dict[str, object]
    constant_inputs: list[str]  # never vary in the development rows, so the model cannot use them
    holdout_ids: list[int] = field(repr=False)
    holdout_probability: np.ndarray = field(repr=False)
    holdout_label: np.ndarray = field(repr=False)
    out_of_fold: np.ndarray = field(repr=False)
    development_label: np.ndarray = field(repr=False)
    # One row a development applicant: ID_CLIENT, income, label and the out-of-fold probability on
    # the final model's calibrated scale; honest predictions to choose the policy cut-off on.
    validation: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    seconds: float = 0.0

    @property
    def library_versions(self) -> dict[str, str]:
        return library_versions()


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "joblib": joblib.__version__,
    }


def split_holdout(frame: pd.DataFrame, config: TrainingConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    if config.holdout_fraction <= 0:
        return frame, frame.iloc[:0]
    development, holdout = train_test_split(
        frame,
        test_size=config.holdout_fraction,
        stratify=frame[schema.LABEL],
        random_state=config.random_state,
    )
    return development, holdout


def features_and_label(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame[list(schema.FEATURE_NAMES)], frame[schema.LABEL]


def train(frame: pd.DataFrame, config: TrainingConfig = TrainingConfig(), progress: Progress = print) -> TrainingResult:
    """Everything the registry records about a new model, from a validated labelled frame."""
    started = time.perf_counter()
    development, holdout = split_holdout(frame, config)
    X, y = features_and_label(development)
    progress(f"{len(development)} development rows, {len(holdout)} held out; {config.n_splits}-fold CV")

    results: dict[str, CrossValidation] = {}
    for position, name in enumerate(config.candidates, start=1):
        results[name] = _cross_validate_candidate(name, config.excluded, X, y, config)
        progress(f"[{position}/{len(config.candidates)}] {name}: {_describe(results[name])}")
    best = choose_candidate(results)
    comparison = _comparison_table(results, best, config)

    if config.excluded:
        with_excluded = _cross_validate_candidate(best, (), X, y, config)
        progress(f"{best} with {', '.join(config.excluded)} included: {_describe(with_excluded)}")
        row = _row(f"{best} + {', '.join(config.excluded)}", with_excluded, best=False, excluded=())
        comparison = pd.concat([comparison, pd.DataFrame([row])], ignore_index=True)

    progress(f"fitting and calibrating {best} on all {len(development)} development rows")
    model = _fit_calibrated(best, X, y, config)
    holdout_probability, holdout_metrics = _measure_holdout(model, holdout)
    if holdout_metrics:
        progress(f"holdout: ROC AUC {holdout_metrics['roc_auc']:.4f} on {len(holdout)} rows")
    importance = _importance(model, holdout if len(holdout) else development, config)

    return TrainingResult(
        model=model,
        algorithm=best,
        config=config,
        comparison=comparison,
        cv_metrics=results[best].summary(),
        holdout_metrics=holdout_metrics,
        feature_importance=importance,
        features=[n for n in schema.FEATURE_NAMES if n not in config.excluded],
        hyperparameters=_hyperparameters(
            make_candidate(best, excluded=config.excluded, random_state=config.random_state)
        ),
        rows={"total": len(frame), "development": len(development), "holdout": len(holdout)},
        reference_applicant=reference_applicant(X),
        constant_inputs=[name for name in X.columns if X[name].nunique(dropna=False) <= 1],
        holdout_ids=[int(i) for i in holdout[schema.ID_COLUMN]],
        holdout_probability=holdout_probability,
        holdout_label=holdout[schema.LABEL].to_numpy(),
        out_of_fold=results[best].out_of_fold,
        development_label=y.to_numpy(),
        validation=_validation_predictions(development, _calibrated_out_of_fold(best, results[best].out_of_fold,
                                                                               y.to_numpy(), config)),
        seconds=time.perf_counter() - started,
    )


def choose_candidate(results: dict[str, CrossValidation]) -> str:
    """The one-standard-error rule: the quickest candidate within one standard error of the best AUC.

    Differences smaller than the folds' own spread are noise; the quicker model then wins, which
    also keeps single-applicant latency low (an ensemble costs every member's time on every call).
    """
    top = max(results, key=lambda name: results[name].mean("roc_auc"))
    standard_error = results[top].std("roc_auc") / np.sqrt(len(results[top].folds))
    close = [name for name in results if results[name].mean("roc_auc") >= results[top].mean("roc_auc") - standard_error]
    return min(close, key=lambda name: results[name].mean("fit_seconds"))


def _cross_validate_candidate(
    name: str, excluded: Sequence[str], X: pd.DataFrame, y: pd.Series, config: TrainingConfig
) -> CrossValidation:
    pipeline = make_candidate(name, excluded=excluded, random_state=config.random_state)
    return cross_validate(pipeline, X, y, n_splits=config.n_splits, random_state=config.random_state)


def _describe(cv: CrossValidation) -> str:
    return f"ROC AUC {cv.mean('roc_auc'):.4f} ± {cv.std('roc_auc'):.4f}, {cv.mean('fit_seconds'):.1f} s a fit"


def _row(name: str, cv: CrossValidation, *, best: bool, excluded: Sequence[str]) -> dict[str, Any]:
    return {"candidate": name, **cv.summary(), "chosen": best, "excluded": ", ".join(excluded) or "none"}


def _comparison_table(results: dict[str, CrossValidation], best: str, config: TrainingConfig) -> pd.DataFrame:
    rows = [_row(name, cv, best=name == best, excluded=config.excluded) for name, cv in results.items()]
    return pd.DataFrame(rows).sort_values("roc_auc", ascending=False, ignore_index=True)


def _fit_calibrated(name: str, X: pd.DataFrame, y: pd.Series, config: TrainingConfig) -> Pipeline:
    # ensemble=False: one model refitted on all rows, its sigmoid fitted on cross-validated
    # predictions (https://scikit-learn.org/stable/modules/calibration.html).
    calibrated = CalibratedClassifierCV(
        make_candidate(name, excluded=config.excluded, random_state=config.random_state),
        method="sigmoid",
        cv=config.folds(),
        ensemble=False,
    )
    return Pipeline([("calibrated_model", calibrated)]).fit(X, y)


def _calibrated_out_of_fold(name: str, out_of_fold: np.ndarray, y: np.ndarray, config: TrainingConfig) -> np.ndarray:
    """The development rows' out-of-fold probabilities, mapped as the final model maps new applicants.

    The final model's sigmoid is fitted on the chosen candidate's cross-validated predictions, with
    the same folds as the comparison, so on exactly these predictions. Fitting the same sigmoid here
    (Platt: a one-input logistic regression, on the decision function where the candidate has one,
    as :class:`~sklearn.calibration.CalibratedClassifierCV` does; for a binary classifier that is
    the log-odds of its probability) puts every development row on the scale of the model's
    probabilities, each predicted by a model that never saw it.
    """
    candidate = make_candidate(name, excluded=config.excluded, random_state=config.random_state)
    clipped = np.clip(out_of_fold, 1e-12, 1 - 1e-12)
    response = np.log(clipped / (1 - clipped)) if hasattr(candidate, "decision_function") else out_of_fold
    sigmoid = LogisticRegression(C=np.inf).fit(response.reshape(-1, 1), y)
    return sigmoid.predict_proba(response.reshape(-1, 1))[:, 1]


def _validation_predictions(development: pd.DataFrame, probability: np.ndarray) -> pd.DataFrame:
    frame = development[[schema.ID_COLUMN, "PERSONAL_MONTHLY_INCOME", schema.LABEL]].reset_index(drop=True)
    return frame.assign(probability_bad=probability)


def _measure_holdout(model: Pipeline, holdout: pd.DataFrame) -> tuple[np.ndarray, dict[str, float]]:
    if holdout.empty:
        return np.array([]), {}
    X, y = features_and_label(holdout)
    probability = model.predict_proba(X)[:, 1]
    return probability, metrics(y.to_numpy(), probability)


def _importance(model: Pipeline, frame: pd.DataFrame, config: TrainingConfig) -> pd.Series:
    """Permutation importance of each raw input: how much ROC AUC drops when it is shuffled."""
    sample = frame.sample(n=min(config.importance_rows, len(frame)), random_state=config.random_state)
    X, y = features_and_label(sample)
    importance = permutation_importance(model, X, y, n_repeats=3, random_state=config.random_state)
    return importance.drop(labels=list(config.excluded), errors="ignore").sort_values(ascending=False)


def _hyperparameters(pipeline: Pipeline) -> dict[str, Any]:
    """The final estimator's parameters, as JSON-friendly values."""
    estimator = pipeline.steps[-1][1]
    return {key: value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)
            for key, value in estimator.get_params(deep=False).items()}  # fmt: skip
