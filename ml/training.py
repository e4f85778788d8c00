"""Training: compare the candidates by cross-validation, calibrate the best, measure it on a holdout.

The labelled rows are split once, stratified and seeded: a holdout share is set aside before
anything is fitted (the lending simulation's default test set) and the rest is the development
set. Candidates are compared by stratified k-fold CV on the development set only. The best is
refitted on the whole development set inside a Platt (sigmoid) calibration, which keeps the
ranking and so the AUC, and is then measured once on the holdout. The sigmoid is fitted on the
comparison's own out-of-fold predictions: the folds are not fitted a second time.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import joblib
import lightgbm
import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV, _fit_calibrator
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder

from ml import drift, schema
from ml.candidates import CANDIDATE_NAMES, MONOTONE_INPUTS, make_candidate
from ml.evaluation import CrossValidation, cross_validate, metrics, permutation_importance
from ml.progress import progress_bar
from ml.reference import approved_reference, reference_applicant
from ml.scorer import CompiledScorer, compile_pipeline
from ml.simulation import Economics, ThresholdChoice, threshold_choice_for

# The compiled scorer must give the pipeline's probabilities to within this, on every row.
SCORER_TOLERANCE = 1e-9

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingConfig:
    excluded: tuple[str, ...] = schema.DEFAULT_EXCLUDED
    candidates: tuple[str, ...] = CANDIDATE_NAMES
    n_splits: int = 5
    holdout_fraction: float = 0.2
    random_state: int = 42
    importance_rows: int = 4000
    # Cross-validate the chosen candidate again without its monotone constraints and with the
    # excluded attributes (what each costs): two more comparisons, which a first start skips.
    variants: bool = True
    # Folds fitted at once, each in its own process (joblib); the fits are seeded, so the model is the same.
    n_jobs: int = 1
    # Each input's expected direction of risk (-1: more of it never raises the risk): kept by every candidate.
    monotone: tuple[tuple[str, int], ...] = tuple(MONOTONE_INPUTS.items())
    # Once the chosen candidate is measured on the holdout, refit it on every labelled row (development and
    # holdout) for the artifact, its sigmoid on cross-validated predictions over all of them (train --refit-all).
    refit_all: bool = False

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
    # The lean scorer every service path uses, checked against ``model`` on every labelled row.
    scorer: CompiledScorer | None = field(repr=False, default=None)
    # The profit-maximising cut-off, chosen on ``validation`` (never on the holdout).
    threshold_choice: ThresholdChoice | None = None
    reference_probability: float | None = None  # the reference applicant's own probability of default
    # Each input's and the score's distribution over the development rows (ml/drift.py).
    drift_reference: dict[str, Any] = field(repr=False, default_factory=dict)
    # With refit_all: what the refit was, and its cross-validated figures over every labelled row; empty otherwise.
    refit: dict[str, Any] = field(default_factory=dict)
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
        "lightgbm": lightgbm.__version__,
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


def train(
    frame: pd.DataFrame,
    config: TrainingConfig = TrainingConfig(),
    progress: Progress = print,
    *,
    show_progress: bool | None = False,
) -> TrainingResult:
    """Everything the registry records about a new model, from a validated labelled frame.

    ``show_progress``: a bar of the fits with an ETA on stderr (None: only where stderr is a terminal).
    """
    started = time.perf_counter()
    if config.refit_all and config.holdout_fraction <= 0:
        raise ValueError("refitting on every labelled row needs a holdout to measure the model on first")
    development, holdout = split_holdout(frame, config)
    X, y = features_and_label(development)
    progress(f"{len(development)} development rows, {len(holdout)} held out; {config.n_splits}-fold CV")
    with progress_bar(planned_fits(config), "training", unit="fit", enabled=show_progress) as bar:
        tick = partial(bar.update, 1)
        results: dict[str, CrossValidation] = {}
        for position, name in enumerate(config.candidates, start=1):
            # A single candidate is the one chosen whatever its folds say: its final fit runs beside them.
            alone = len(config.candidates) == 1
            results[name] = _cross_validate_candidate(name, config.excluded, X, y, config, tick, fit_all=alone)
            progress(f"[{position}/{len(config.candidates)}] {name}: {_describe(results[name])}")
        best = choose_candidate(results)
        variants = _variants(best, X, y, config, progress, tick)
        comparison = pd.concat([_comparison_table(results, best, config), pd.DataFrame(variants)], ignore_index=True)

        progress(f"fitting {best} on all {len(development)} development rows, its sigmoid on the folds' predictions")
        model = fit_calibrated(best, X, y, config, results[best])
        bar.update(1)
        holdout_probability, holdout_metrics = _measure_holdout(model, holdout)
        if holdout_metrics:
            progress(f"holdout: ROC AUC {holdout_metrics['roc_auc']:.4f} on {len(holdout)} rows")
        # The rows the final fit learnt from, and its out-of-fold predictions over them (for the cut-off).
        refit: dict[str, Any] = {}
        fitted, final_cv = development, results[best]
        if config.refit_all:
            model, final_cv, refit = _refit_all(best, frame, config, progress, tick)
            fitted = frame
        scorer = compile_pipeline(model)
        check_scorer(model, scorer, frame[list(schema.FEATURE_NAMES)])
        progress(f"compiled scorer equals the pipeline to within {SCORER_TOLERANCE:g} on all {len(frame)} rows")
        bar.update(1)
        importance = _importance(scorer, holdout if len(holdout) else development, config)
        bar.update(1)
    validation = _validation_predictions(fitted, _calibrated_out_of_fold(model, final_cv))
    X = fitted[list(schema.FEATURE_NAMES)]
    choice = threshold_choice_for(validation=validation, economics=Economics())
    threshold = choice.threshold if choice is not None else None
    reference, reference_probability = (
        approved_reference(X, validation["probability_bad"].to_numpy(), threshold, _one(scorer))
        if threshold is not None
        else (reference_applicant(X), None)
    )
    return TrainingResult(
        model=model,
        algorithm=best,
        config=config,
        comparison=comparison,
        cv_metrics=results[best].summary(),
        holdout_metrics=holdout_metrics,
        feature_importance=importance,
        features=list(scorer.informative),
        hyperparameters=_hyperparameters(
            make_candidate(
                best, excluded=config.excluded, random_state=config.random_state, monotone=dict(config.monotone)
            )
        ),
        rows={"total": len(frame), "development": len(development), "holdout": len(holdout)},
        reference_applicant=reference,
        constant_inputs=[name for name in X.columns if X[name].nunique(dropna=False) <= 1],
        holdout_ids=[int(i) for i in holdout[schema.ID_COLUMN]],
        holdout_probability=holdout_probability,
        holdout_label=holdout[schema.LABEL].to_numpy(),
        out_of_fold=results[best].out_of_fold,
        development_label=y.to_numpy(),
        validation=validation,
        scorer=scorer,
        threshold_choice=choice,
        reference_probability=reference_probability,
        drift_reference=drift_reference(X, validation["probability_bad"].to_numpy()),
        refit=refit,
        seconds=time.perf_counter() - started,
    )


REFIT_CALIBRATION = (
    "sigmoid (Platt) fitted on the out-of-fold predictions of a stratified {folds}-fold cross-validation over "
    "all {rows} labelled rows (development and holdout), as CalibratedClassifierCV(cv={folds}, ensemble=False) fits it"
)


def _refit_all(
    best: str, frame: pd.DataFrame, config: TrainingConfig, progress: Progress, on_fold: Callable[[], object]
) -> tuple[Pipeline, CrossValidation, dict[str, Any]]:
    """The chosen candidate refitted on every labelled row, inside a sigmoid that is still honest.

    The sigmoid needs predictions of rows the model did not learn from: a fresh stratified k-fold
    cross-validation over all the rows gives one for each (the same folds' seed as the comparison),
    and its figures are the refit's own cross-validated figures. The holdout was measured before,
    on the model fitted without it; from here on it is no longer unseen.
    """
    X, y = features_and_label(frame)
    progress(
        f"refitting {best} on all {len(frame)} labelled rows (holdout included): {config.n_splits}-fold "
        "cross-validation over them for its sigmoid, then the fit"
    )
    # Its final fit on every row runs beside the folds (cv.model), as a single candidate's does.
    cv = _cross_validate_candidate(best, config.excluded, X, y, config, on_fold, fit_all=True)
    progress(f"{best} over all labelled rows: {_describe(cv)}")
    model = fit_calibrated(best, X, y, config, cv)
    on_fold()
    refit = {
        "rows": len(frame),
        "cv_metrics": cv.summary(),
        "calibration": REFIT_CALIBRATION.format(folds=config.n_splits, rows=len(frame)),
        "holdout_metrics": "of the model fitted on the development rows, before the refit",
    }
    return model, cv, refit


def drift_reference(development: pd.DataFrame, probability_bad: np.ndarray) -> dict[str, Any]:
    """The population the model learnt from, for the stability reports: the development rows' inputs
    and their out-of-fold probabilities, each predicted by a model that never saw the row, so the
    score's distribution is what the final model gives applicants of that population (its own
    predictions on its training rows would be more spread out than on anyone new)."""
    reference = drift.reference_build(development, probability_bad)
    reference["score_source"] = "out-of-fold probabilities of the development rows"
    return reference


def planned_fits(config: TrainingConfig) -> int:
    """The steps of a training run, counted in fits of a candidate: the comparison's folds, the
    variants' folds, the final fit, and two for checking the compiled scorer and measuring the model
    (each about as long as a fit)."""
    variants = bool(config.monotone) + bool(config.excluded) if config.variants else 0
    refit = config.n_splits + 1 if config.refit_all else 0
    return (len(config.candidates) + variants) * config.n_splits + 1 + 2 + refit


def check_scorer(model: Pipeline, scorer: CompiledScorer, frame: pd.DataFrame) -> float:
    """The largest difference between the pipeline's and the scorer's probabilities on ``frame``;
    ValueError if it exceeds :data:`SCORER_TOLERANCE` (a scorer that disagrees is never registered)."""
    difference = float(np.max(np.abs(model.predict_proba(frame)[:, 1] - scorer.probability_bad(frame)), initial=0.0))
    if not difference <= SCORER_TOLERANCE:
        raise ValueError(f"the compiled scorer differs from the pipeline by {difference:g} (> {SCORER_TOLERANCE:g})")
    return difference


def _one(scorer: CompiledScorer) -> Callable[[dict[str, object]], float]:
    return lambda applicant: float(scorer.probability_bad(applicant)[0])


def _variants(
    best: str, X: pd.DataFrame, y: pd.Series, config: TrainingConfig, progress: Progress, on_fold: Callable[[], object]
) -> list[dict[str, Any]]:
    """The chosen candidate once more without its monotone constraints (what they cost) and with the
    excluded attributes (what excluding them costs)."""
    rows: list[dict[str, Any]] = []
    if not config.variants:
        return rows
    if config.monotone:
        free = _cross_validate_candidate(best, config.excluded, X, y, replace(config, monotone=()), on_fold)
        progress(f"{best} without monotone constraints: {_describe(free)}")
        rows.append(
            {
                **_row(f"{best} without monotone constraints", free, best=False, excluded=config.excluded),
                "monotone": "none",
            }
        )
    if config.excluded:
        with_excluded = _cross_validate_candidate(best, (), X, y, config, on_fold)
        progress(f"{best} with {', '.join(config.excluded)} included: {_describe(with_excluded)}")
        rows.append(_row(f"{best} + {', '.join(config.excluded)}", with_excluded, best=False, excluded=()))
    return rows


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
    name: str,
    excluded: Sequence[str],
    X: pd.DataFrame,
    y: pd.Series,
    config: TrainingConfig,
    on_fold: Callable[[], object] | None = None,
    *,
    fit_all: bool = False,
) -> CrossValidation:
    pipeline = make_candidate(name, excluded=excluded, random_state=config.random_state, monotone=dict(config.monotone))
    return cross_validate(
        pipeline,
        X,
        y,
        n_splits=config.n_splits,
        random_state=config.random_state,
        n_jobs=config.n_jobs,
        on_fold=on_fold,
        fit_all=fit_all,
    )


def _describe(cv: CrossValidation) -> str:
    return f"ROC AUC {cv.mean('roc_auc'):.4f} ± {cv.std('roc_auc'):.4f}, {cv.mean('fit_seconds'):.1f} s a fit"


def _row(name: str, cv: CrossValidation, *, best: bool, excluded: Sequence[str]) -> dict[str, Any]:
    return {
        "candidate": name,
        **cv.summary(),
        "chosen": best,
        "excluded": ", ".join(excluded) or "none",
        "monotone": "as configured",
    }


def _comparison_table(results: dict[str, CrossValidation], best: str, config: TrainingConfig) -> pd.DataFrame:
    rows = [_row(name, cv, best=name == best, excluded=config.excluded) for name, cv in results.items()]
    return pd.DataFrame(rows).sort_values("roc_auc", ascending=False, ignore_index=True)


def fit_calibrated(name: str, X: pd.DataFrame, y: pd.Series, config: TrainingConfig, cv: CrossValidation) -> Pipeline:
    """The candidate ``name`` refitted on all of ``X``, inside a sigmoid fitted on ``cv``'s out-of-fold responses.

    This is what ``CalibratedClassifierCV(candidate, method="sigmoid", cv=config.folds(), ensemble=False)``
    fits (https://scikit-learn.org/stable/modules/calibration.html): the candidate on all rows, its
    sigmoid on its cross-validated predictions. Those predictions are ``cv``'s, fitted with the same
    folds and seeds, so they are taken from it instead of fitting every fold again, through the step
    ``CalibratedClassifierCV.fit`` itself ends with (a private function of scikit-learn, pinned in
    requirements.txt; ml/tests/test_training.py checks the result equals ``CalibratedClassifierCV.fit``'s).
    The candidate's fit on all rows is ``cv.model`` where the cross-validation made it beside the folds.
    """
    candidate = make_candidate(
        name, excluded=config.excluded, random_state=config.random_state, monotone=dict(config.monotone)
    )
    calibrated = CalibratedClassifierCV(
        candidate, method="sigmoid", cv=config.folds(), n_jobs=config.n_jobs, ensemble=False
    )
    if len(cv.out_of_fold_response) != len(y):
        raise ValueError(f"the cross-validation predicted {len(cv.out_of_fold_response)} rows, not the {len(y)} given")
    # Fitted beside the folds when the cross-validation was asked to (a single candidate: it is the choice).
    estimator = cv.model if cv.model is not None else clone(candidate).fit(X, y)
    calibrated.classes_ = LabelEncoder().fit(y).classes_
    calibrated.calibrated_classifiers_ = [
        _fit_calibrator(estimator, cv.out_of_fold_response.reshape(-1, 1), y, calibrated.classes_, "sigmoid", xp=np)
    ]
    for attribute in ("n_features_in_", "feature_names_in_"):  # as CalibratedClassifierCV.fit copies them
        if hasattr(estimator, attribute):
            setattr(calibrated, attribute, getattr(estimator, attribute))
    return Pipeline([("calibrated_model", calibrated)])


def _calibrated_out_of_fold(model: Pipeline, cv: CrossValidation) -> np.ndarray:
    """The development rows' out-of-fold predictions, mapped by the final model's own sigmoid.

    That sigmoid was fitted on exactly these predictions (:func:`fit_calibrated`): every development
    row gets a probability on the model's scale, each predicted by a model that never saw it.
    """
    (calibrator,) = model[-1].calibrated_classifiers_[0].calibrators
    return calibrator.predict(cv.out_of_fold_response)


def _validation_predictions(development: pd.DataFrame, probability: np.ndarray) -> pd.DataFrame:
    frame = development[[schema.ID_COLUMN, "PERSONAL_MONTHLY_INCOME", schema.LABEL]].reset_index(drop=True)
    return frame.assign(probability_bad=probability)


def _measure_holdout(model: Pipeline, holdout: pd.DataFrame) -> tuple[np.ndarray, dict[str, float]]:
    if holdout.empty:
        return np.array([]), {}
    X, y = features_and_label(holdout)
    probability = model.predict_proba(X)[:, 1]
    return probability, metrics(y.to_numpy(), probability)


def _importance(model: Any, frame: pd.DataFrame, config: TrainingConfig) -> pd.Series:
    """Permutation importance of each raw input: how much ROC AUC drops when it is shuffled."""
    sample = frame.sample(n=min(config.importance_rows, len(frame)), random_state=config.random_state)
    X, y = features_and_label(sample)
    importance = permutation_importance(
        model, X, y, n_repeats=3, random_state=config.random_state, n_jobs=config.n_jobs
    )
    return importance.drop(labels=list(config.excluded), errors="ignore").sort_values(ascending=False)


def _hyperparameters(pipeline: Pipeline) -> dict[str, Any]:
    """The final estimator's parameters, as JSON-friendly values."""
    estimator = pipeline.steps[-1][1]
    return {key: _json_value(value) for key, value in estimator.get_params(deep=False).items()}


def _json_value(value: Any) -> Any:
    """A parameter as JSON: scalars and lists of scalars as they are, any other object by its repr."""
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(item, (int, float, str, bool)) for item in value):
        return list(value)
    return repr(value)
