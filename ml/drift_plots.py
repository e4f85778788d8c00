"""Charts of a population stability report (PNG bytes): every index against the bands, and the bins
of the inputs that moved most."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ml.drift import ACT_ABOVE, STABLE_BELOW, DriftReport  # noqa: E402

COLOURS = {"stable": "#79aec8", "watch": "#e0a526", "act": "#c0392b", "none": "#dddddd"}
PSI_AXIS_LIMIT = 1.0  # longer bars are cut here and carry their value


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def psi_chart(report: DriftReport, title: str) -> bytes:
    """One bar an index (the score first, then the inputs, highest first), coloured by its band."""
    rows = [*([report.score] if report.score else []), *report.inputs]
    fig, ax = plt.subplots(figsize=(8, 0.2 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    values = np.array([row.psi for row in rows])
    ax.barh(y, np.minimum(values, PSI_AXIS_LIMIT), color=[COLOURS[row.band] for row in rows], height=0.7)
    for position, value in zip(y, values, strict=True):
        if value > PSI_AXIS_LIMIT:
            ax.text(PSI_AXIS_LIMIT, position, f" {value:.2f}", va="center", fontsize=7)
    ax.axvline(STABLE_BELOW, color="grey", linestyle="--", linewidth=0.8)
    ax.axvline(ACT_ABOVE, color="black", linestyle="--", linewidth=0.8)
    names = [row.name if row.used_by_model else f"{row.name} (not used)" for row in rows]
    ax.set_yticks(y, names, fontsize=7)
    ax.set(xlim=(0, PSI_AXIS_LIMIT * 1.12), xlabel="PSI (dashed: 0.1 watch, 0.25 act)", title=title)
    return _png(fig)


def bins_chart(report: DriftReport, title: str, count: int = 8) -> bytes:
    """The development rows' share of each bin beside the sample's, for the score and the inputs the
    model uses that moved most."""
    used = [row for row in report.inputs if row.used_by_model][: count - 1]
    rows = [*([report.score] if report.score else []), *used]
    columns = 2
    lines = -(-len(rows) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(11, 2.6 * lines), squeeze=False)
    for ax, row in zip(axes.flat, rows, strict=False):
        x = np.arange(len(row.labels))
        ax.bar(x - 0.2, row.expected, width=0.4, color="#bbbbbb", label="development rows")
        ax.bar(x + 0.2, row.actual, width=0.4, color=COLOURS[row.band], label="this file")
        ax.set_xticks(
            x,
            [label if len(label) <= 14 else label[:13] + "…" for label in row.labels],
            rotation=45,
            ha="right",
            fontsize=7,
        )
        ax.set_title(f"{row.name}: PSI {row.psi:.3f} ({row.band})", fontsize=9)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)
