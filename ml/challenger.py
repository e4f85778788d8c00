"""Champion and challenger: the challenger's shadow scores, and how its decisions compare with the champion's.

A challenger scores every live decision in shadow with its own compiled scorer and its own cut-off
(:func:`shadow_scores`); the probability alone, without reasons, so that it costs the worker as
little as possible (reasons are a replay away: ``POST /api/v1/score-requests/{id}/replay/``).

The comparison (:func:`compare_decisions`) reads a table of counts: one row for each (champion
decision, challenger decision, champion points, challenger points) with how many decisions fall
there and the sums of both probabilities of default. The database aggregates the stored shadow
scores into it, so a comparison over millions of decisions reads a few thousand rows; everything
here is exact arithmetic on that table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.scorecard import APPROVE, DECLINE, PointsScale, decisions
from ml.scorer import CompiledScorer

# The aggregated table compare_decisions reads, one row a cell.
COMPARISON_COLUMNS = (
    "champion_decision",
    "challenger_decision",
    "champion_score",
    "challenger_score",
    "decisions",
    "champion_probability_sum",
    "challenger_probability_sum",
)

# Bands of the points a decision moved (challenger minus champion; more points is safer), as a risk
# manager reads them: the same points, a few either way, or a change of 20 points and more (one
# doubling of the odds at the default scale).
SHIFT_BANDS = (
    (None, -20, "20 or more lower"),
    (-19, -10, "10 to 19 lower"),
    (-9, -1, "1 to 9 lower"),
    (0, 0, "the same"),
    (1, 9, "1 to 9 higher"),
    (10, 19, "10 to 19 higher"),
    (20, None, "20 or more higher"),
)
SHIFT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
LARGE_SHIFT = 20


@dataclass(frozen=True)
class ShadowScores:
    probability_bad: np.ndarray
    score: np.ndarray  # whole points
    decision: np.ndarray


def shadow_scores(
    scorer: CompiledScorer, applications: pd.DataFrame | Mapping[str, Any], *, scale: PointsScale, threshold: float
) -> ShadowScores:
    """The challenger's probability, points and decision for every row (a typed frame, or one applicant's fields)."""
    probability = np.asarray(scorer.probability_bad(applications), dtype=float)
    return ShadowScores(probability, np.round(scale.points(probability)).astype(int), decisions(probability, threshold))


@dataclass(frozen=True)
class SwapSet:
    """Decisions one model approves and the other declines: who would be let in, or turned away."""

    name: str
    description: str
    decisions: int
    share: float | None  # of every decision compared
    champion_mean_probability: float | None
    challenger_mean_probability: float | None


@dataclass(frozen=True)
class ScoreShift:
    """How far the challenger's points are from the champion's, decision by decision."""

    champion_mean_points: float | None
    challenger_mean_points: float | None
    mean: float | None  # challenger minus champion
    quantiles: dict[str, int]  # "p5", "p25", "p50", "p75", "p95" of the shift, in whole points
    share_moved_20: float | None  # share of decisions whose points moved by 20 or more, either way
    bands: list[dict[str, Any]]  # SHIFT_BANDS: label, decisions, share


@dataclass
class DecisionComparison:
    decisions: int
    agreement_rate: float | None
    cells: list[dict[str, Any]]  # champion_decision, challenger_decision, decisions, share
    champion_approval_rate: float | None
    challenger_approval_rate: float | None
    champion_mean_probability: float | None
    challenger_mean_probability: float | None
    swap_in: SwapSet
    swap_out: SwapSet
    shift: ScoreShift
    histogram: list[dict[str, Any]] = field(default_factory=list)  # low, high, champion, challenger (counts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_decisions(table: pd.DataFrame, *, bins: int = 12) -> DecisionComparison:
    """Agreement, the two swap sets, the score shift and both score distributions, from the counts table
    (:data:`COMPARISON_COLUMNS`); an empty table gives a comparison of nothing (rates None)."""
    table = _typed(table)
    total = int(table["decisions"].sum())
    champion_approve = table["champion_decision"] == APPROVE
    challenger_approve = table["challenger_decision"] == APPROVE
    agree = champion_approve == challenger_approve
    return DecisionComparison(
        decisions=total,
        agreement_rate=_share(table.loc[agree, "decisions"].sum(), total),
        cells=_cells(table, total),
        champion_approval_rate=_share(table.loc[champion_approve, "decisions"].sum(), total),
        challenger_approval_rate=_share(table.loc[challenger_approve, "decisions"].sum(), total),
        champion_mean_probability=_mean(table, "champion_probability_sum"),
        challenger_mean_probability=_mean(table, "challenger_probability_sum"),
        swap_in=_swap_set(
            table[challenger_approve & ~champion_approve],
            total,
            "swap_in",
            "approved by the challenger, declined by the champion",
        ),
        swap_out=_swap_set(
            table[champion_approve & ~challenger_approve],
            total,
            "swap_out",
            "approved by the champion, declined by the challenger",
        ),
        shift=_shift(table, total),
        histogram=_histogram(table, bins),
    )


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in COMPARISON_COLUMNS if name not in table.columns]
    if missing:
        raise ValueError(f"the comparison table lacks {', '.join(missing)}")
    table = table[list(COMPARISON_COLUMNS)].copy()
    for name in ("champion_score", "challenger_score", "decisions"):
        table[name] = table[name].astype(np.int64)
    for name in ("champion_probability_sum", "challenger_probability_sum"):
        table[name] = table[name].astype(float)
    return table[table["decisions"] > 0].reset_index(drop=True)


def _share(part: float, total: int) -> float | None:
    return float(part) / total if total else None


def _mean(table: pd.DataFrame, column: str) -> float | None:
    n = int(table["decisions"].sum())
    return float(table[column].sum()) / n if n else None


def _cells(table: pd.DataFrame, total: int) -> list[dict[str, Any]]:
    cells = []
    for champion in (APPROVE, DECLINE):
        for challenger in (APPROVE, DECLINE):
            mask = (table["champion_decision"] == champion) & (table["challenger_decision"] == challenger)
            n = int(table.loc[mask, "decisions"].sum())
            cells.append(
                {
                    "champion_decision": champion,
                    "challenger_decision": challenger,
                    "decisions": n,
                    "share": _share(n, total),
                }
            )
    return cells


def _swap_set(rows: pd.DataFrame, total: int, name: str, description: str) -> SwapSet:
    n = int(rows["decisions"].sum())
    return SwapSet(
        name=name,
        description=description,
        decisions=n,
        share=_share(n, total),
        champion_mean_probability=_mean(rows, "champion_probability_sum"),
        challenger_mean_probability=_mean(rows, "challenger_probability_sum"),
    )


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value at which at least ``q`` of the weight lies at or below it (the inverted
    empirical distribution: numpy's ``inverted_cdf`` with weights)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1], side="left")])


def _shift(table: pd.DataFrame, total: int) -> ScoreShift:
    moved = (table["challenger_score"] - table["champion_score"]).to_numpy()
    weights = table["decisions"].to_numpy()
    bands = []
    for low, high, label in SHIFT_BANDS:
        inside = np.ones(len(moved), dtype=bool)
        if low is not None:
            inside &= moved >= low
        if high is not None:
            inside &= moved <= high
        n = int(weights[inside].sum())
        bands.append({"label": label, "low": low, "high": high, "decisions": n, "share": _share(n, total)})
    if not total:
        return ScoreShift(None, None, None, {}, None, bands)
    quantiles = {f"p{round(q * 100)}": int(weighted_quantile(moved, weights, q)) for q in SHIFT_QUANTILES}
    return ScoreShift(
        champion_mean_points=float(np.average(table["champion_score"], weights=weights)),
        challenger_mean_points=float(np.average(table["challenger_score"], weights=weights)),
        mean=float(np.average(moved, weights=weights)),
        quantiles=quantiles,
        share_moved_20=_share(weights[np.abs(moved) >= LARGE_SHIFT].sum(), total),
        bands=bands,
    )


def _histogram(table: pd.DataFrame, bins: int) -> list[dict[str, Any]]:
    """Both models' points in ``bins`` equal whole-point bins spanning the lowest to the highest given."""
    if table.empty:
        return []
    low = int(min(table["champion_score"].min(), table["challenger_score"].min()))
    high = int(max(table["champion_score"].max(), table["challenger_score"].max()))
    width = max(1, -(-(high - low + 1) // bins))
    count = -(-(high - low + 1) // width)
    champion = np.bincount((table["champion_score"] - low) // width, weights=table["decisions"], minlength=count)
    challenger = np.bincount((table["challenger_score"] - low) // width, weights=table["decisions"], minlength=count)
    return [
        {
            "low": low + i * width,
            "high": low + (i + 1) * width - 1,
            "champion": int(champion[i]),
            "challenger": int(challenger[i]),
        }
        for i in range(count)
    ]
