"""A model card in markdown, with its figures, for every trained model version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from ml.training import TrainingResult  # noqa: E402

_METRIC_COLUMNS = {
    "candidate": "candidate",
    "roc_auc": "ROC AUC",
    "roc_auc_std": "± (folds)",
    "gini": "Gini",
    "ks": "KS",
    "brier": "Brier",
    "log_loss": "log loss",
    "fit_seconds": "fit s",
    "excluded": "excluded",
    "monotone": "monotone constraints",
}


def write_figures(result: TrainingResult, folder: Path, prefix: str) -> dict[str, str]:
    """PNG files for the card; returns their names by role."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {
        "roc": f"{prefix}-roc.png",
        "calibration": f"{prefix}-calibration.png",
        "importance": f"{prefix}-importance.png",
    }
    _plot_roc(result, folder / names["roc"])
    _plot_calibration(result, folder / names["calibration"])
    _plot_importance(result.feature_importance, folder / names["importance"])
    return names


def _plot_roc(result: TrainingResult, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    curves = [("cross-validated (development)", result.development_label, result.out_of_fold)]
    if len(result.holdout_label):
        curves.append(("holdout", result.holdout_label, result.holdout_probability))
    for label, y, p in curves:
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(
        xlabel="false positive rate (goods declined)",
        ylabel="true positive rate (bads caught)",
        title=f"ROC: {result.algorithm}",
    )
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _plot_calibration(result: TrainingResult, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    if len(result.holdout_label):
        observed, predicted = calibration_curve(
            result.holdout_label, result.holdout_probability, n_bins=10, strategy="quantile"
        )
        label = "holdout (model before the refit)" if result.refit else "holdout (calibrated model)"
        ax.plot(predicted, observed, marker="o", label=label)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    ax.set(
        xlabel="predicted probability of default",
        ylabel="observed default rate",
        title="Calibration",
        xlim=(0, 0.7),
        ylim=(0, 0.7),
    )
    ax.legend(loc="upper left")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _plot_importance(importance: pd.Series, path: Path) -> None:
    top = importance.head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.barh(top.index, top.to_numpy())
    ax.set(xlabel="drop in ROC AUC when the input is shuffled", title="Most important inputs")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def render(result: TrainingResult, *, version: str, figures: dict[str, str] | None, facts: dict[str, Any]) -> str:
    """The card's markdown; ``figures`` are paths relative to where the card is written."""
    comparison = result.comparison.rename(columns=_METRIC_COLUMNS)[list(_METRIC_COLUMNS.values())]
    excluded = ", ".join(result.config.excluded) or "none"
    lines = [
        f"# Model card: {version}",
        "",
        f"Trained {facts.get('created_at', '')} in {result.seconds:.0f} s. Algorithm: **{result.algorithm}**, "
        "calibrated with a sigmoid (Platt) fitted on cross-validated predictions.",
        "",
        "## Intended use",
        "Estimate the probability that an applicant for a private-label credit card defaults (is 'bad'), "
        "to support an approve/decline decision with reasons. Not for pricing, limits or any other product.",
        "",
        "## Data",
        f"- Source: `{facts.get('data_source', '')}` (sha256 `{facts.get('data_sha256', '')}`)",
        f"- Rows: {result.rows['total']} labelled; {result.rows['development']} for development (cross-validation "
        f"and fitting), {result.rows['holdout']} held out before any fitting (seed {result.config.random_state})"
        + (f"; then the chosen model was refitted on all {result.rows['total']} (see below)." if result.refit else "."),
        f"- Bad rate: {np.mean(result.development_label):.1%} in development.",
        f"- Inputs used: {len(result.features)} of the 53 application columns.",
        f"- Excluded attributes: {excluded}. The lender may not decide on them; the table shows what including "
        "them would change.",
        "",
        f"## Candidates (stratified {result.config.n_splits}-fold cross-validation on the development rows)",
        "",
        _markdown_table(comparison),
        "",
        "## Monotone constraints",
        _monotone_text(result),
        "",
        "## Reasons",
        _reference_text(result),
        "",
        "## Chosen model on the holdout",
        "",
        _markdown_table(pd.DataFrame([{k: v for k, v in result.holdout_metrics.items()}]))
        if result.holdout_metrics
        else "No holdout was kept.",
        "",
        *_refit_lines(result),
        "## Most important inputs",
        "Permutation importance: the drop in ROC AUC when one input is shuffled "
        f"({min(result.config.importance_rows, result.rows['holdout'] or result.rows['development'])} rows"
        f"{'; held-out rows, which the refitted model has seen' if result.refit else ''}).",
        "",
        _markdown_table(result.feature_importance.head(15).rename("AUC drop").rename_axis("input").reset_index()),
        "",
    ]
    if figures:
        lines += [
            f"![ROC curve]({figures['roc']})",
            f"![Calibration]({figures['calibration']})",
            f"![Importance]({figures['importance']})",
            "",
        ]
    lines += [
        "## Limitations",
        "- The data holds only applicants that an earlier system approved (reject inference is not done): "
        "the model has not seen the applicants that system declined, and its risk estimates for them are "
        "extrapolation.",
        "- Data from one Brazilian retailer, of one period; the later leaderboard and prediction files show drift "
        "(for example EDUCATION_LEVEL is not recorded in the modelling file). Monitor the score distribution "
        "and re-train on recent outcomes.",
        "- Inputs that never vary in the training rows carry no weight, whatever their value when scoring: "
        f"{', '.join(result.constant_inputs) or 'none'}. A previous-delinquency record (FLAG_ACSP_RECORD = Y), "
        "if among them, needs a business rule outside the model.",
        "- Discrimination is modest (ROC AUC in the mid 0.6s): use the probability as one input of a credit "
        "policy, with the reasons, not as the only judge.",
        "- Location inputs (zip prefix, state, city) can stand in for excluded attributes; see the fairness "
        "report of the lending simulation.",
        "",
        "## Reproducibility",
        f"- Hyper-parameters: {_in_words(result.hyperparameters)}",
        f"- Library versions: {_in_words(result.library_versions)}",
        f"- Artifact sha256: `{facts.get('artifact_sha256', '')}`; compiled scorer sha256: "
        f"`{facts.get('scorer_sha256', '')}`",
        "",
    ]
    return "\n".join(lines)


def _refit_lines(result: TrainingResult) -> list[str]:
    """The refit on every labelled row (``train --refit-all``), and which figures belong to which model."""
    if not result.refit:
        return []
    refit = result.refit
    return [
        f"## Refitted on all {refit['rows']} labelled rows",
        "",
        "The figures above are those of the model fitted on the development rows, measured once on the holdout "
        "before anything else. The artifact is that model's pipeline refitted on every labelled row, the holdout "
        f"included; its calibration: {refit['calibration']}. Its cross-validated figures over those rows:",
        "",
        _markdown_table(pd.DataFrame([{_METRIC_COLUMNS.get(k, k): v for k, v in refit["cv_metrics"].items()}])),
        "",
        "The policy cut-off, the reference applicant and the drift reference come from those out-of-fold "
        "predictions over all the rows. The held-out rows are recorded still, but they are no longer unseen: the "
        "lending simulation refuses them as its test set for this version (give it a labelled file of new rows).",
        "",
    ]


def _in_words(values: dict[str, Any]) -> str:
    """``name value`` pairs as a reader writes them, not a Python dict."""
    return (
        "; ".join(
            f"{key} `{', '.join(map(str, value)) if isinstance(value, (list, tuple)) else value}`"
            for key, value in values.items()
        )
        or "none"
    )


def _monotone_text(result: TrainingResult) -> str:
    if not result.config.monotone:
        return "None: the model may move either way with every input."
    inputs = ", ".join(
        f"{name} ({'more never raises the risk' if d < 0 else 'more never lowers the risk'})"
        for name, d in result.config.monotone
    )
    text = (
        f"The model never predicts more risk for more of: {inputs}; features derived from them follow "
        '(total income, income per person...), so a reason can never read "income is too high".'
    )
    free = result.comparison[result.comparison["candidate"] == f"{result.algorithm} without monotone constraints"]
    if len(free):
        cost = float(free["roc_auc"].iloc[0]) - result.cv_metrics["roc_auc"]
        text += (
            f" The constraints {'cost' if cost >= 0 else 'gain'} {abs(cost):.4f} of CV ROC AUC "
            f"({free['roc_auc'].iloc[0]:.4f} without them, {result.cv_metrics['roc_auc']:.4f} with them; "
            f"the folds' spread is {result.cv_metrics['roc_auc_std']:.4f})."
        )
    return text


def _reference_text(result: TrainingResult) -> str:
    text = (
        "A reason is an input whose change to the reference applicant's value lowers the predicted "
        "probability of default; its impact is that drop, exactly. The reference is the typical applicant "
        "among those the model approves at the policy cut-off"
    )
    if result.threshold_choice is not None and result.reference_probability is not None:
        text += (
            f" ({result.threshold_choice.threshold:.4f}); its own probability is "
            f"{result.reference_probability:.4f}, so every declined applicant is riskier and gets at least "
            "one reason."
        )
    else:
        text += "."
    return text


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value)

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
