"""Population stability: is today's population still the one the model learnt from?

At training time each input's and the score's distribution over the development rows is kept as
bin counts (the *reference*). A later sample is cut into the same bins and compared with the
population stability index (PSI; called the characteristic stability index, CSI, for an input):

    PSI = sum over bins of (actual% - expected%) * ln(actual% / expected%)

Bins:

- numbers (and the score): quantile bins of the development rows, deciles by default, whose upper
  edges are stored (a bin holds the values up to and including its edge; the last is open), and a
  bin for missing values. Inputs with few distinct values get fewer bins (repeated edges collapse).
- codes: one bin a value seen in the development rows, an "other" bin for any value never seen
  there, and a missing bin. Free text (cities, boroughs, zip prefixes, thousands of values) keeps
  its most frequent values only; the rest of the development rows already count as "other".

A bin empty on one side would make the logarithm infinite: a share below :data:`EPSILON` is taken as
:data:`EPSILON` (0.01%), the usual floor. With it a bin of 10% that the development rows never had
contributes about 0.69, so a new value that takes a tenth of the population alone reads "act".

Bands (the industry's rule of thumb): below 0.1 stable, 0.1 to 0.25 watch, above 0.25 act.

Plain Python, NumPy and pandas; the counts of several samples (a file read in chunks, single and
bulk decisions) add up before the index is computed, so nothing needs the whole sample in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml import schema

FORMAT = 1
EPSILON = 1e-4
STABLE_BELOW = 0.1
ACT_ABOVE = 0.25
QUANTILE_BINS = 10
TEXT_VALUES_KEPT = 20
SCORE = "score"  # the name the score goes by in a report, beside the inputs' column names
OTHER, MISSING = "other", "missing"
NO_ROWS = "none"  # the band of an index with no rows to compute it on
MIN_ROWS = 500  # below this many rows a PSI is mostly sampling noise; the report says so


def band(psi: float) -> str:
    """``stable`` below 0.1, ``watch`` from 0.1 to 0.25, ``act`` above 0.25."""
    if psi < STABLE_BELOW:
        return "stable"
    return "watch" if psi <= ACT_ABOVE else "act"


def psi(
    expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray, epsilon: float = EPSILON
) -> float:
    """The stability index of two distributions over the same bins (counts or shares).

    Each side is turned into shares of its total, and a share below ``epsilon`` counts as ``epsilon``.
    """
    e, a = _shares(expected), _shares(actual)
    if e.shape != a.shape:
        raise ValueError(f"the two distributions have {e.size} and {a.size} bins")
    e, a = np.maximum(e, epsilon), np.maximum(a, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(counts, dtype=float)
    total = values.sum()
    return values / total if total > 0 else values


# -- the reference -------------------------------------------------------------------------------


def numeric_reference(values: pd.Series | np.ndarray, bins: int = QUANTILE_BINS) -> dict[str, Any]:
    """Quantile edges of the present values, and the counts of each bin (the missing bin last)."""
    numbers = np.asarray(values, dtype=float)
    present = numbers[~np.isnan(numbers)]
    if present.size:
        inner = np.quantile(present, np.arange(1, bins) / bins, method="inverted_cdf")
        edges = np.unique(inner[inner < present.max()])  # the last bin is open: no edge at the maximum
    else:
        edges = np.array([], dtype=float)
    spec: dict[str, Any] = {"kind": "numeric", "edges": [float(e) for e in edges]}
    # The development rows' range: names the one bin of an input that never varied ("= 0").
    spec["range"] = [float(present.min()), float(present.max())] if present.size else []
    spec["counts"] = [int(c) for c in numeric_counts(spec, numbers)]
    return spec


def category_reference(values: pd.Series, keep: int | None = None) -> dict[str, Any]:
    """One bin a value seen (the ``keep`` most frequent, or all), then "other", then missing."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    seen = np.bincount(codes[codes >= 0], minlength=len(uniques))
    # Most frequent first, ties by value: the same rows give the same bins in any order.
    names, tally = [str(value) for value in uniques], seen.tolist()
    order = np.array(sorted(range(len(names)), key=lambda i: (-tally[i], names[i])), dtype=int)
    kept, rest = order[:keep], order[len(order) if keep is None else keep :]
    return {
        "kind": "category",
        "values": [names[i] for i in kept],
        "counts": [*(int(c) for c in seen[kept]), int(seen[rest].sum()), int((codes < 0).sum())],
    }


def numeric_counts(spec: Mapping[str, Any], values: pd.Series | np.ndarray) -> np.ndarray:
    numbers = np.asarray(values, dtype=float)
    missing = np.isnan(numbers)
    edges = np.asarray(spec["edges"], dtype=float)
    positions = np.searchsorted(edges, numbers[~missing], side="left")  # x <= edge[i] falls in bin i
    counts = np.bincount(positions, minlength=edges.size + 1)
    return np.append(counts, int(missing.sum()))


def category_counts(spec: Mapping[str, Any], values: pd.Series | Iterable[Any]) -> np.ndarray:
    """Counts of each known value, then of the values never seen in the development rows, then missing.

    Codes are compared as text, as :mod:`ml.data` types them (a missing value is None or NaN).
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    per_unique = np.bincount(codes[codes >= 0], minlength=len(uniques))
    known = pd.Index(spec["values"], dtype=object)
    slot = known.get_indexer(pd.Index([str(u) for u in uniques], dtype=object))  # -1: never seen
    seen = np.bincount(slot[slot >= 0], weights=per_unique[slot >= 0], minlength=len(known)).astype(int)
    return np.concatenate([seen, [int(per_unique[slot < 0].sum()), int((codes < 0).sum())]])


def counts_for(spec: Mapping[str, Any], values: Any) -> np.ndarray:
    return numeric_counts(spec, values) if spec["kind"] == "numeric" else category_counts(spec, values)


def bin_labels(spec: Mapping[str, Any]) -> list[str]:
    if spec["kind"] == "numeric":
        edges = [_number(e) for e in spec["edges"]]
        if not edges:
            low, high = spec.get("range") or [None, None]
            single = "any value" if low is None else f"= {_number(low)}" if low == high else "any value"
            return [single, MISSING]
        inner = [f"{low} < x ≤ {high}" for low, high in zip(edges, edges[1:], strict=False)]
        return [f"≤ {edges[0]}", *inner, f"> {edges[-1]}", MISSING]
    return [*spec["values"], OTHER, MISSING]


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def reference_build(frame: pd.DataFrame, probability_bad: np.ndarray | pd.Series) -> dict[str, Any]:
    """The reference distributions of every input of ``frame`` (typed, as :mod:`ml.data` reads it) and
    of the score (``probability_bad``, one a row), as JSON-ready counts."""
    inputs: dict[str, Any] = {}
    for name in schema.FEATURE_NAMES:
        if name not in frame.columns:
            continue
        column = schema.COLUMNS_BY_NAME[name]
        if column.is_numeric:
            inputs[name] = numeric_reference(frame[name])
        else:
            inputs[name] = category_reference(
                frame[name], keep=TEXT_VALUES_KEPT if column.kind is schema.Kind.TEXT else None
            )
    return {
        "format": FORMAT,
        "rows": len(frame),
        "epsilon": EPSILON,
        SCORE: numeric_reference(np.asarray(probability_bad, dtype=float)),
        "inputs": inputs,
    }


# -- a sample against the reference --------------------------------------------------------------


def sample_counts(
    reference: Mapping[str, Any], frame: pd.DataFrame, probability_bad: np.ndarray | pd.Series
) -> dict[str, np.ndarray]:
    """The bin counts of a sample: each input of the reference found in ``frame``, and the score."""
    counts = {name: counts_for(spec, frame[name]) for name, spec in reference["inputs"].items() if name in frame}
    counts[SCORE] = counts_for(reference[SCORE], np.asarray(probability_bad, dtype=float))
    return counts


def add_counts(total: dict[str, np.ndarray], more: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``total`` plus ``more``, bin by bin (a name only one side has is kept as it is)."""
    for name, counts in more.items():
        total[name] = total[name] + counts if name in total else np.asarray(counts).copy()
    return total


@dataclass(frozen=True)
class Stability:
    """One input's (or the score's) index, with its bins' shares for the table and the chart."""

    name: str
    psi: float
    band: str
    rows: int
    labels: list[str]
    expected: list[float]  # shares of the development rows
    actual: list[float]  # shares of the sample
    used_by_model: bool = True

    @property
    def largest_shift(self) -> str:
        """The bin whose share moved most, as "label: 12.0% -> 20.5%"."""
        if not self.labels:
            return ""
        i = int(np.argmax(np.abs(np.subtract(self.actual, self.expected))))
        return f"{self.labels[i]}: {self.expected[i]:.1%} -> {self.actual[i]:.1%}"


@dataclass
class DriftReport:
    source: str  # what the sample is: a file, or the decisions of a window
    rows: int
    score: Stability | None
    inputs: list[Stability]  # highest index first
    notes: list[str] = field(default_factory=list)

    @property
    def inputs_to_act_on(self) -> list[str]:
        return [s.name for s in self.inputs if s.band == "act"]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        score = data.get("score")
        return cls(
            source=data["source"],
            rows=int(data["rows"]),
            score=Stability(**score) if score else None,
            inputs=[Stability(**row) for row in data.get("inputs", [])],
            notes=list(data.get("notes", [])),
        )

    def table(self) -> str:
        """The report as a fixed-width table for a terminal or a log."""
        lines = [f"Population stability of {self.source}: {self.rows:,} rows"]
        lines += [f"  note: {note}" for note in self.notes]
        header = f"  {'input':<32} {'PSI':>8}  {'band':<6}  largest shift (development -> sample)"
        lines += [header, "  " + "-" * (len(header) + 8)]
        for row in [*([self.score] if self.score else []), *self.inputs]:
            name = row.name if row.used_by_model else f"{row.name} (not used)"
            lines.append(f"  {name:<32} {row.psi:>8.4f}  {row.band:<6}  {row.largest_shift}")
        return "\n".join(lines)


def drift_report(
    reference: Mapping[str, Any],
    counts: Mapping[str, np.ndarray],
    *,
    source: str,
    used: Iterable[str] | None = None,
    notes: Iterable[str] = (),
) -> DriftReport:
    """The score's PSI and each input's CSI from a sample's bin counts (:func:`sample_counts`).

    ``used``: the inputs the model uses (the others are still reported, marked as not used).
    """
    used_set = set(used) if used is not None else None
    epsilon = float(reference.get("epsilon", EPSILON))
    score = _stability(SCORE, reference[SCORE], counts[SCORE], epsilon) if SCORE in counts else None
    inputs = [
        _stability(name, spec, counts[name], epsilon, used_set is None or name in used_set)
        for name, spec in reference["inputs"].items()
        if name in counts
    ]
    inputs.sort(key=lambda s: (-s.psi, s.name))
    rows = int(np.sum(counts[SCORE])) if SCORE in counts else max((s.rows for s in inputs), default=0)
    all_notes = list(notes)
    if rows < MIN_ROWS:
        all_notes.append(f"only {rows} rows: below {MIN_ROWS} an index is mostly sampling noise")
    return DriftReport(source=source, rows=rows, score=score, inputs=inputs, notes=all_notes)


def _stability(name: str, spec: Mapping[str, Any], actual: np.ndarray, epsilon: float, used: bool = True) -> Stability:
    expected = np.asarray(spec["counts"], dtype=float)
    actual = np.asarray(actual, dtype=float)
    value = psi(expected, actual, epsilon) if actual.sum() > 0 else 0.0
    return Stability(
        name=name,
        psi=round(value, 6),
        band=band(value) if actual.sum() > 0 else NO_ROWS,
        rows=int(actual.sum()),
        labels=bin_labels(spec),
        expected=[round(float(v), 6) for v in _shares(expected)],
        actual=[round(float(v), 6) for v in _shares(actual)],
        used_by_model=used,
    )
