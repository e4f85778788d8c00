"""Decision reasons: the inputs that raised one applicant's predicted risk most, in plain words.

A reason is faithful to the model by construction. For every input (or group of inputs that only
make sense together, such as a home address) whose value differs from a *reference applicant*,
the input is set to the reference value and the model scores the changed copy. The drop in the
probability of default is the reason's ``impact``; only strictly positive drops become reasons,
and the largest come first. Nothing is approximated: ``impact`` is exactly
``p(applicant) - p(applicant with that input at the reference value)``.

The reference stands for an *approved* applicant (:func:`approved_reference`: the typical
applicant among those the model approves at the policy cut-off, itself approved), so every
declined applicant is riskier than it, and some inputs explain the difference. When no input
alone lowers a row's risk (the model's interactions), the fewest inputs that do so together make
one reason, so every declined row gets at least one.

The substituted copies of all rows and inputs are scored by the compiled scorer
(:mod:`ml.scorer`) on already encoded rows, in a few vectorised calls (chunked to bound memory).
:func:`score_and_explain` also returns the applicants' own probabilities from the same pass.

The reference applicant is :mod:`ml.reference`'s, the sentences :mod:`ml.wording`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ml import schema
from ml.reference import GROUPS
from ml.scorer import CompiledScorer, Encoded
from ml.values import json_value
from ml.wording import describe, describe_group

# Substituted copies scored per call: bounds memory (a copy is a row of ~50 floats) while keeping
# the per-call overhead negligible.
DEFAULT_CHUNK_ROWS = 100_000


# -- the result ------------------------------------------------------------------------------------


@dataclass(slots=True)  # slots, not frozen: bulk jobs make tens of thousands a chunk
class Reason:
    column: str  # input column name; for a group, its first column (all of them in ``columns``)
    text: str  # what a loan officer reads
    value: object  # this applicant's value; a {column: value} dict for a group; None for missing
    reference: object  # the reference value, shaped like ``value``
    impact: float  # drop in probability of default if the input took the reference value (> 0)
    columns: tuple[str, ...] = field(default=())  # every input substituted together
    group: str | None = None  # the group's name (a key of GROUPS), None for a single column

    def as_dict(self) -> dict[str, Any]:
        # Built by hand: dataclasses.asdict deep-copies every value, which dominated bulk jobs. The
        # value dicts are made afresh for each reason, so sharing them is safe.
        return {
            "column": self.column,
            "text": self.text,
            "value": self.value,
            "reference": self.reference,
            "impact": self.impact,
            "columns": list(self.columns or (self.column,)),
            "group": self.group,
        }


# -- explaining ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """What one reason can be about: a single column or a whole group."""

    columns: tuple[str, ...]
    group: str | None


def explain(
    scorer: CompiledScorer,
    frame: pd.DataFrame | Mapping[str, Any],
    reference: Mapping[str, object],
    **options: Any,
) -> list[list[Reason]]:
    """Reasons for every row of `frame` (raw typed features); see :func:`score_and_explain`."""
    return score_and_explain(scorer, frame, reference, **options)[1]


def score_and_explain(
    scorer: CompiledScorer,
    frame: pd.DataFrame | Mapping[str, Any],
    reference: Mapping[str, object],
    *,
    columns: Sequence[str] | None = None,
    max_reasons: int = 4,
    min_impact: float = 1e-4,
    groups: Mapping[str, Sequence[str]] | None = GROUPS,
    explain_if: Callable[[np.ndarray], np.ndarray] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> tuple[np.ndarray, list[list[Reason]]]:
    """The probability of default of every row and its reasons, from the compiled scorer.

    ``frame`` is a typed frame or one applicant's fields (a dict). ``columns``: inputs that may be
    reasons (default: every input the model reads and can use; a shorter list is faster).
    ``explain_if``: which rows to explain, from their probabilities (default all), e.g. the
    declined ones (``lambda p: p >= threshold``). Every explained row riskier than the reference
    gets at least one reason: when no input alone lowers its risk, the fewest inputs that do so
    together make one reason.
    """
    unseen: dict[str, int] = {}
    encoded = scorer.encode(frame, unseen=unseen)
    applicant = {name: reference.get(name) for name in scorer.inputs}
    base = scorer.encode_known(applicant) or scorer.encode(applicant, unseen=unseen)
    n = len(encoded)
    units = _units_of(tuple(_candidate_columns(scorer, reference, columns)), _frozen(groups or {}))
    rows = np.arange(n)
    reasons: list[list[Reason]] = [[] for _ in range(n)]
    if not units or max_reasons <= 0:
        rows = rows[:0]
    probability = np.full(n, np.nan)
    if explain_if is not None or len(rows) == 0:  # the rows' own risks first: they choose who is explained
        scored = scorer.probability_of(Encoded.concat([encoded, base]))
        probability, reference_probability = scored[:n], float(scored[n])
        if explain_if is not None:
            rows = rows[np.asarray(explain_if(probability), dtype=bool)[rows]]
    values = _raw_columns(frame, units)
    differs = _differs(encoded, base, units, rows)
    for chunk in _row_chunks(differs, chunk_rows):
        impact, reference_probability = _impacts(scorer, encoded, base, units, rows[chunk], differs[chunk], probability)
        for position, row_reasons in zip(
            chunk, _select(values, units, impact, rows[chunk], reference, max_reasons, min_impact), strict=True
        ):
            reasons[rows[position]] = row_reasons
    for row in rows:
        if not reasons[row] and probability[row] > reference_probability + min_impact:
            found = _combined_reason(scorer, encoded, base, units, int(row), probability[row], values, reference)
            reasons[row] = [found] if found is not None and found.impact > min_impact else []
    return probability, reasons


def _candidate_columns(
    scorer: CompiledScorer, reference: Mapping[str, object], columns: Sequence[str] | None
) -> list[str]:
    wanted = schema.FEATURE_NAMES if columns is None else columns
    unknown = [c for c in wanted if c not in schema.FEATURE_NAMES]
    if unknown:
        raise ValueError(f"not input columns: {', '.join(unknown)}")
    usable = set(scorer.informative)
    return [c for c in wanted if c in usable and c in reference]


def _frozen(groups: Mapping[str, Sequence[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(members)) for name, members in groups.items())


@lru_cache(maxsize=64)
def _units_of(columns: tuple[str, ...], groups: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[_Unit, ...]:
    """:func:`_units`, kept: every request of a model asks for the same ones."""
    return tuple(_units(columns, dict(groups)))


def _units(columns: Sequence[str], groups: Mapping[str, Sequence[str]]) -> list[_Unit]:
    """Each group (restricted to ``columns``) once, then the remaining columns on their own."""
    chosen = set(columns)
    units: list[_Unit] = []
    grouped: set[str] = set()
    for name, members in groups.items():
        kept = tuple(m for m in members if m in chosen)
        if kept:
            units.append(_Unit(kept, name if len(kept) > 1 else None))
            grouped.update(kept)
    units += [_Unit((c,), None) for c in columns if c not in grouped]
    return units


def _raw_columns(frame: pd.DataFrame | Mapping[str, Any], units: Sequence[_Unit]) -> dict[str, np.ndarray]:
    """The applicants' own values of every candidate column, for the reasons' texts."""
    names = {c for unit in units for c in unit.columns}
    if isinstance(frame, pd.DataFrame):
        return {c: frame[c].to_numpy() for c in names}
    return {c: np.array([frame.get(c)], dtype=object) for c in names}


def _differs(encoded: Encoded, base: Encoded, units: Sequence[_Unit], rows: np.ndarray) -> np.ndarray:
    """rows x units: True where some column of the unit is not at the reference value."""
    member = _member_matrix(encoded.names, units)
    values, target = encoded.matrix[rows], base.matrix[0]
    differ = ~((values == target) | (np.isnan(values) & np.isnan(target)))
    return (differ.astype(np.int64) @ member.astype(np.int64)) > 0


def _member_matrix(names: tuple[str, ...], units: Sequence[_Unit]) -> np.ndarray:
    """inputs x units: True where the unit holds the input (kept: every call of a model asks the same)."""
    return _member_table(names, tuple(units))


@lru_cache(maxsize=64)
def _member_table(names: tuple[str, ...], units: tuple[_Unit, ...]) -> np.ndarray:
    position = {name: j for j, name in enumerate(names)}
    table = np.zeros((len(names), len(units)), dtype=bool)
    for k, unit in enumerate(units):
        table[[position[c] for c in unit.columns], k] = True
    return table


def _row_chunks(differs: np.ndarray, chunk_rows: int) -> Iterator[np.ndarray]:
    """Consecutive positions whose substituted copies (one a differing unit) fit ``chunk_rows``."""
    cost = np.maximum(differs.sum(axis=1), 1)
    start = 0
    while start < len(cost):
        taken = np.searchsorted(np.cumsum(cost[start:]), max(chunk_rows, int(cost[start])), side="right")
        stop = start + max(1, int(taken))
        yield np.arange(start, stop)
        start = stop


def _substituted(encoded: Encoded, base: Encoded, rows: np.ndarray, at_reference: np.ndarray) -> Encoded:
    """Copies of ``rows``; input j of copy i at the reference's value where ``at_reference[i, j]``."""
    return Encoded(np.where(at_reference, base.matrix[0], encoded.matrix[rows]), encoded.names)


def _impacts(
    scorer: CompiledScorer,
    encoded: Encoded,
    base: Encoded,
    units: Sequence[_Unit],
    rows: np.ndarray,
    differs: np.ndarray,
    probability: np.ndarray,
) -> tuple[np.ndarray, float]:
    """rows x units: the drop in probability when the unit takes the reference's values (-inf: same).

    One call of the scorer for the substituted copies, with the rows themselves (where their
    probability is not known yet, written into ``probability``) and the reference; returns the
    impacts and the reference's probability.
    """
    pair_row, pair_unit = np.nonzero(differs)
    unknown = rows[np.isnan(probability[rows])]
    # One matrix: the reference, the rows not scored yet, then a copy of a row for each differing unit,
    # that unit's inputs set to the reference's values.
    matrix = np.empty((1 + len(unknown) + len(pair_row), len(encoded.names)))
    matrix[0] = base.matrix[0]
    matrix[1:] = encoded.matrix[np.concatenate([unknown, rows[pair_row]])]
    np.copyto(matrix[1 + len(unknown) :], base.matrix[0], where=_member_matrix(encoded.names, units).T[pair_unit])
    scored = scorer.probability_of(Encoded(matrix, encoded.names))
    probability[unknown] = scored[1 : 1 + len(unknown)]
    impact = np.full(differs.shape, -np.inf)
    impact[pair_row, pair_unit] = probability[rows[pair_row]] - scored[1 + len(unknown) :]
    return impact, float(scored[0])


def _combined_reason(
    scorer: CompiledScorer,
    encoded: Encoded,
    base: Encoded,
    units: Sequence[_Unit],
    row: int,
    probability: float,
    values: Mapping[str, np.ndarray],
    reference: Mapping[str, object],
) -> Reason | None:
    """The fewest inputs (chosen greedily) that together lower a row's risk: one reason for them all.

    Each step moves to the reference the input whose move leaves the lowest risk, until the risk is
    below the row's own; with every input at the reference it is the reference's, so a row riskier
    than the reference always ends with a reason.
    """
    remaining = np.flatnonzero(_differs(encoded, base, units, np.array([row]))[0]).tolist()
    member = _member_matrix(encoded.names, units)
    chosen: list[int] = []
    while remaining:
        at_reference = np.asarray(member[:, chosen].any(axis=1))[None, :] | member.T[remaining]
        risks = scorer.probability_of(_substituted(encoded, base, np.full(len(remaining), row), at_reference))
        best = int(np.argmin(risks))
        chosen.append(remaining.pop(best))
        if risks[best] < probability:
            return _joint_reason([units[k] for k in chosen], values, row, reference, probability - float(risks[best]))
    return None


def _joint_reason(
    units: Sequence[_Unit], values: Mapping[str, np.ndarray], row: int, reference: Mapping[str, object], impact: float
) -> Reason:
    parts = [_reason(unit, {c: values[c][row] for c in unit.columns}, reference, impact) for unit in units]
    if len(parts) == 1:
        return parts[0]
    columns = tuple(c for unit in units for c in unit.columns)
    text = "Taken together: " + "; ".join(p.text[:1].lower() + p.text[1:] for p in parts)
    own = {c: json_value(values[c][row]) for c in columns}
    return Reason(columns[0], text, own, {c: reference[c] for c in columns}, impact, columns, "combined")


def _select(
    values: Mapping[str, np.ndarray],
    units: Sequence[_Unit],
    impact: np.ndarray,
    rows: np.ndarray,
    reference: Mapping[str, object],
    max_reasons: int,
    min_impact: float,
) -> list[list[Reason]]:
    """The ``max_reasons`` largest impacts above ``min_impact`` of each row, largest first.

    Built unit by unit (each unit's values taken for all its rows at once), since a bulk chunk
    makes tens of thousands of reasons.
    """
    # A stable sort on -impact keeps the units' order among ties, so results are reproducible.
    order = np.argsort(-impact, axis=1, kind="stable")[:, :max_reasons]
    top = np.take_along_axis(impact, order, axis=1)
    at, rank = np.nonzero(top > max(min_impact, 0.0))  # row-major: each row's reasons in order
    unit_of = order[at, rank]
    made: list[Reason | None] = [None] * len(at)
    for j in np.unique(unit_of):
        unit, picked = units[j], np.flatnonzero(unit_of == j)
        own = {c: [json_value(v) for v in values[c][rows[at[picked]]]] for c in unit.columns}
        for n, position in enumerate(picked.tolist()):
            made[position] = _reason_of(
                unit, {c: own[c][n] for c in unit.columns}, reference, float(top[at[position], rank[position]])
            )
    out: list[list[Reason]] = [[] for _ in range(len(rows))]
    for position, i in enumerate(at):
        reason = made[position]
        assert reason is not None  # every position of ``at`` was made above
        out[i].append(reason)
    return out


def _reason(unit: _Unit, raw: Mapping[str, object], reference: Mapping[str, object], impact: float) -> Reason:
    return _reason_of(unit, {c: json_value(v) for c, v in raw.items()}, reference, impact)


def _reason_of(unit: _Unit, values: dict[str, object], reference: Mapping[str, object], impact: float) -> Reason:
    """A reason from the applicant's JSON-ready values of the unit's columns."""
    refs = {c: reference[c] for c in unit.columns}
    if unit.group is None:
        (name,) = unit.columns
        text = _describe_once(name, values[name], refs[name])
        return Reason(name, text, values[name], refs[name], impact, unit.columns)
    text = _describe_group_once(unit.group, tuple(values.items()), tuple(refs.items()))
    return Reason(unit.columns[0], text, values, refs, impact, unit.columns, unit.group)


# Bulk jobs give the same few texts thousands of times ("No home phone"): each is worded once.
@lru_cache(maxsize=65536)
def _describe_once(column: str, value: object, reference: object) -> str:
    return describe(column, value, reference)


@lru_cache(maxsize=65536)
def _describe_group_once(
    group: str, values: tuple[tuple[str, object], ...], refs: tuple[tuple[str, object], ...]
) -> str:
    return describe_group(group, dict(values), dict(refs))
