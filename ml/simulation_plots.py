"""Charts of a lending simulation, drawn from the JSON a run stores (PNG bytes)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

CHART_NAMES = ("profit", "roc", "scores", "fairness")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def profit_chart(summary: dict[str, Any], charts: dict[str, Any]) -> bytes:
    """Profit per applicant at every cut-off, beside approve-everyone and the oracle."""
    curve = charts["profit_curve"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(curve["threshold"], curve["profit_per_applicant"], label="decline at or above the cut-off")
    ax.axhline(summary["profit_per_applicant_approve_all"], color="grey", linestyle="--", label="approve everyone")
    ax.axhline(summary["profit_per_applicant_oracle"], color="green", linestyle=":", label="oracle (the ceiling)")
    ax.axvline(summary["threshold"], color="red", label=f"policy cut-off {summary['threshold']:.3f}")
    ax.axvline(
        charts["policy"]["break_even"],
        color="orange",
        linestyle="-.",
        linewidth=0.8,
        label=f"break-even probability {charts['policy']['break_even']:.2f}",
    )
    low = min(summary["profit_per_applicant_approve_all"], min(curve["profit_per_applicant"]))
    ax.set(
        xlabel="cut-off: probability of default at which an applicant is declined",
        ylabel="profit per applicant",
        title="Profit by cut-off",
        xlim=(0, 0.7),
        ylim=(low - 10, summary["profit_per_applicant_oracle"] + 10),
    )
    ax.legend(loc="center right", fontsize=8)
    return _png(fig)


def roc_chart(summary: dict[str, Any], charts: dict[str, Any]) -> bytes:
    roc, policy = charts["roc"], charts["policy"]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(roc["false_positive_rate"], roc["true_positive_rate"], label=f"model (ROC AUC {roc['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    if policy["false_positive_rate"] is not None and policy["true_positive_rate"] is not None:
        ax.plot(
            [policy["false_positive_rate"]],
            [policy["true_positive_rate"]],
            "o",
            color="red",
            label="the policy cut-off",
        )
    ax.set(xlabel="goods declined (false positive rate)", ylabel="bads declined (true positive rate)", title="ROC")
    ax.legend(loc="lower right")
    return _png(fig)


def scores_chart(summary: dict[str, Any], charts: dict[str, Any], points_at_threshold: float | None) -> bytes:
    """Credit points of good and bad clients: how far apart the two piles are."""
    distributions = charts["score_distributions"]
    edges = np.asarray(distributions["edges"], dtype=float)
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(centres, distributions["goods"], width=width, alpha=0.5, label="good clients")
    ax.bar(centres, distributions["bads"], width=width, alpha=0.5, label="bad clients")
    if points_at_threshold is not None:
        ax.axvline(points_at_threshold, color="red", label=f"cut-off ({points_at_threshold:.0f} points)")
    ax.set(xlabel="credit points (higher is safer)", ylabel="share of the group", title="Score distributions")
    ax.legend()
    return _png(fig)


def fairness_chart(summary: dict[str, Any], fairness: dict[str, Any]) -> bytes:
    """Approval rate of each group, with the four-fifths line of the reference group."""
    groups = fairness["groups"]
    fig, axes = plt.subplots(1, max(len(groups), 1), figsize=(5 * max(len(groups), 1), 4), squeeze=False)
    for ax, (name, rows) in zip(axes[0], groups.items(), strict=False):
        _fairness_bars(ax, name, rows, fairness["four_fifths"])
    return _png(fig)


def _fairness_bars(ax: Axes, name: str, rows: list[dict[str, Any]], four_fifths: float) -> None:
    labels = [f"{row['group']}{' (small)' if row['small_group'] else ''}" for row in rows]
    rates = [row["approval_rate"] for row in rows]
    # Red: below four fifths of the reference; grey: too small a group to judge.
    colours = [
        "#c0392b" if row["below_four_fifths"] else "#b0b0b0" if row["small_group"] else "#417690" for row in rows
    ]
    ax.bar(labels, rates, color=colours)
    reference = max(
        (r["approval_rate"] / r["adverse_impact_ratio"] for r in rows if r["adverse_impact_ratio"]), default=None
    )
    if reference:
        ax.axhline(reference * four_fifths, color="grey", linestyle="--", label="four fifths of the reference")
        ax.legend(loc="lower right", fontsize=8)
    ax.set(title=f"Approval rate by {name}", ylim=(0, 1), ylabel="approval rate")
    ax.tick_params(axis="x", rotation=30)


def render(name: str, run: dict[str, Any], points_at: Callable[[float], float] | None = None) -> bytes:
    """One chart by name from a run's stored ``summary``, ``charts`` and ``fairness``."""
    summary, charts = run["summary"], run["charts"]
    if name == "profit":
        return profit_chart(summary, charts)
    if name == "roc":
        return roc_chart(summary, charts)
    if name == "scores":
        return scores_chart(summary, charts, points_at(summary["threshold"]) if points_at else None)
    if name == "fairness":
        return fairness_chart(summary, run["fairness"])
    raise KeyError(name)
