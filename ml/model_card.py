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
}


def write_figures(result: TrainingResult, folder: Path, prefix: str) -> dict[str, str]:
    """PNG files for the card; returns their names by role."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {"roc": f"{prefix}-roc.png", "calibration": f"{prefix}-calibration.png",
             "importance": f"{prefix}-importance.png"}  # fmt: skip
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
    ax.set(xlabel="false positive rate (goods declined)", ylabel="true positive rate (bads caught)",
           title=f"ROC: {result.algorithm}")  # fmt: skip
    ax.legend(loc="lower right")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _plot_calibration(result: TrainingResult, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    if len(result.holdout_label):
        observed, predicted = calibration_curve(result.holdout_label, result.holdout_probability,
                                                n_bins=10, strategy="quantile")  # fmt: skip
        ax.plot(predicted, observed, marker="o", label="holdout (calibrated model)")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    ax.set(xlabel="predicted probability of default", ylabel="observed default rate",
           title="Calibration", xlim=(0, 0.7), ylim=(0, 0.7))  # fmt: skip
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
        f"and fitting), {result.rows['holdout']} held out before any fitting (seed {result.config.random_state}).",
        f"- Bad rate: {np.mean(result.development_label):.1%} in development.",
        f"- Inputs used: {len(result.features)} of the 53 application columns.",
        f"- Excluded attributes: {excluded}. The lender may not decide on them; the table shows what including "
        "them would change.",
        "",
        f"## Candidates (stratified {result.config.n_splits}-fold cross-validation on the development rows)",
        "",
        _markdown_table(comparison),
        "",
        "## Chosen model on the holdout",
        "",
        _markdown_table(pd.DataFrame([{k: v for k, v in result.holdout_metrics.items()}]))
        if result.holdout_metrics
        else "No holdout was kept.",
        "",
        "## Most important inputs",
        "Permutation importance: the drop in ROC AUC when one input is shuffled "
        f"({min(result.config.importance_rows, result.rows['holdout'] or result.rows['development'])} rows).",
        "",
        _markdown_table(result.feature_importance.head(15).rename("AUC drop").rename_axis("input").reset_index()),
        "",
    ]
    if figures:
        lines += [f"![ROC curve]({figures['roc']})", f"![Calibration]({figures['calibration']})",
                  f"![Importance]({figures['importance']})", ""]  # fmt: skip
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
        f"- Hyper-parameters: `{result.hyperparameters}`",
        f"- Library versions: `{result.library_versions}`",
        f"- Artifact sha256: `{facts.get('artifact_sha256', '')}`",
        "",
    ]
    return "\n".join(lines)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value)

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
