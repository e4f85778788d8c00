"""Discrimination and calibration metrics, and honest cross-validation of a candidate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

METRIC_NAMES = ("roc_auc", "gini", "ks", "brier", "log_loss")


def ks_statistic(y_true: np.ndarray, probability_bad: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the widest gap between the score distributions of bads and goods."""
    fpr, tpr, _ = roc_curve(y_true, probability_bad)
    return float(np.max(tpr - fpr))


def metrics(y_true: np.ndarray, probability_bad: np.ndarray) -> dict[str, float]:
    auc = float(roc_auc_score(y_true, probability_bad))
    return {
        "roc_auc": auc,
        "gini": 2 * auc - 1,
        "ks": ks_statistic(y_true, probability_bad),
        "brier": float(brier_score_loss(y_true, probability_bad)),
        "log_loss": float(log_loss(y_true, np.clip(probability_bad, 1e-7, 1 - 1e-7))),
    }


@dataclass
class CrossValidation:
    """Per-fold metrics, their means and spreads, and the out-of-fold predictions.

    ``out_of_fold_response`` is what a sigmoid calibration of the candidate is fitted on: its decision
    function where it has one, else its probability (as :class:`~sklearn.calibration.CalibratedClassifierCV`
    chooses), each row predicted by the fold that did not see it.
    """

    folds: list[dict[str, float]]
    out_of_fold: np.ndarray = field(repr=False)
    out_of_fold_response: np.ndarray = field(repr=False, default_factory=lambda: np.array([]))
    model: Any = field(repr=False, default=None)  # fitted on every row, when asked (``fit_all``)

    def mean(self, name: str) -> float:
        return float(np.mean([f[name] for f in self.folds]))

    def std(self, name: str) -> float:
        return float(np.std([f[name] for f in self.folds]))

    def summary(self) -> dict[str, float]:
        out = {name: self.mean(name) for name in (*METRIC_NAMES, "fit_seconds")}
        out["roc_auc_std"] = self.std("roc_auc")
        return out


def cross_validate(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    n_splits: int = 5,
    random_state: int = 42,
    n_jobs: int | None = 1,
    on_fold: Callable[[], object] | None = None,
    fit_all: bool = False,
) -> CrossValidation:
    """Stratified k-fold: every fold fits a fresh clone of the whole pipeline, preprocessing included.

    ``n_jobs`` folds are fitted at once in separate processes (joblib); each fit is seeded, so the
    result is the same for any ``n_jobs``. ``on_fold`` is called as each fold is done. ``fit_all``: a
    clone is also fitted on all the rows, beside the folds (first, as the longest fit), and returned as
    ``model``: with 5 folds on 2 processes it fills the third round's idle process.
    """
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    splits = list(splitter.split(X, y))
    everything = np.arange(len(y))
    jobs = [(ALL_ROWS, everything, everything)] if fit_all else []
    jobs += [(position, train_idx, test_idx) for position, (train_idx, test_idx) in enumerate(splits)]
    fits = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_fit_fold)(pipeline, X, y, position, train_idx, test_idx) for position, train_idx, test_idx in jobs
    )
    folds: dict[int, dict[str, float]] = {}
    out_of_fold, response = np.zeros(len(y)), np.zeros(len(y))
    model = None
    for position, fitted, proba, fold_response, fit_seconds in fits:
        if position == ALL_ROWS:
            model = fitted
            continue
        test_idx = splits[position][1]
        out_of_fold[test_idx] = proba
        response[test_idx] = fold_response
        folds[position] = {**metrics(y.iloc[test_idx].to_numpy(), proba), "fit_seconds": fit_seconds}
        if on_fold is not None:
            on_fold()
    return CrossValidation([folds[position] for position in sorted(folds)], out_of_fold, response, model)


ALL_ROWS = -1  # the position of the fit on every row among cross_validate's jobs


def _fit_fold(
    pipeline: Pipeline, X: pd.DataFrame, y: pd.Series, position: int, train_idx: np.ndarray, test_idx: np.ndarray
) -> tuple[int, Pipeline | None, np.ndarray, np.ndarray, float]:
    model = clone(pipeline)
    started = time.perf_counter()
    model.fit(X.iloc[train_idx], y.iloc[train_idx])
    fit_seconds = time.perf_counter() - started
    if position == ALL_ROWS:
        return position, model, np.array([]), np.array([]), fit_seconds
    test = X.iloc[test_idx]
    proba = model.predict_proba(test)[:, 1]
    response = model.decision_function(test) if hasattr(model, "decision_function") else proba
    return position, None, proba, response, fit_seconds


def permutation_importance(
    model: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    n_repeats: int = 3,
    random_state: int = 0,
    block: int = 12,
    n_jobs: int | None = 1,
) -> pd.Series:
    """Mean drop in ROC AUC when each column is shuffled.

    The same measure as :func:`sklearn.inspection.permutation_importance` with ``scoring="roc_auc"``,
    but the shuffled copies of ``block`` columns go through one ``predict_proba``: a pipeline with
    many steps costs far more per call than per row, so this is several times faster. The blocks
    are measured ``n_jobs`` at a time in separate processes (joblib), each with its own seed drawn
    from ``random_state``: the result is the same for any ``n_jobs``.
    """
    y_true = y.to_numpy()
    baseline = roc_auc_score(y_true, model.predict_proba(X)[:, 1])
    columns = list(X.columns)
    blocks = [columns[start : start + block] for start in range(0, len(columns), block)]
    seeds = np.random.SeedSequence(random_state).spawn(len(blocks))
    parts = Parallel(n_jobs=n_jobs)(
        delayed(_block_drops)(model, X, y_true, names, n_repeats, seed, baseline)
        for names, seed in zip(blocks, seeds, strict=True)
    )
    return pd.Series({name: drop for part in parts for name, drop in part.items()})


def _block_drops(
    model: Any, X: pd.DataFrame, y_true: np.ndarray, names: list[str], n_repeats: int, seed: Any, baseline: float
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    copies = []
    for name in names:
        for _ in range(n_repeats):
            shuffled = X.copy()
            shuffled[name] = X[name].to_numpy()[rng.permutation(len(X))]
            copies.append(shuffled)
    proba = model.predict_proba(pd.concat(copies, ignore_index=True))[:, 1].reshape(len(copies), len(X))
    drops: dict[str, float] = {}
    for i, name in enumerate(names):
        scores = [roc_auc_score(y_true, p) for p in proba[i * n_repeats : (i + 1) * n_repeats]]
        drops[name] = float(baseline - np.mean(scores))
    return drops
