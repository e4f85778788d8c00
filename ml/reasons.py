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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ml import schema
from ml.features import AREA_CODE_COLUMNS, CODE_COLUMNS, normalize_text
from ml.scorer import CompiledScorer, Encoded

# Substituted copies scored per call: bounds memory (a copy is a row of ~50 floats) while keeping
# the per-call overhead negligible.
DEFAULT_CHUNK_ROWS = 100_000

# Numeric columns holding codes: a median of codes means nothing, the reference takes the mode.
_CODE_LIKE = frozenset((*CODE_COLUMNS, *AREA_CODE_COLUMNS))

# Inputs that only make sense together: a city without its state, a phone area code without the
# phone. A group is substituted as a whole, so the reference never mixes two addresses.
GROUPS: dict[str, tuple[str, ...]] = {
    "home_address": ("RESIDENCIAL_STATE", "RESIDENCIAL_CITY", "RESIDENCIAL_BOROUGH", "RESIDENCIAL_ZIP_3"),
    "home_phone": ("FLAG_RESIDENCIAL_PHONE", "RESIDENCIAL_PHONE_AREA_CODE"),
    # PROFESSIONAL_ZIP_3 stays out: in the published files it repeats the home zip (99.99 % of
    # rows), even for applicants with no work address, so it is no part of a work address.
    "work_address": ("PROFESSIONAL_STATE", "PROFESSIONAL_CITY", "PROFESSIONAL_BOROUGH"),
    "work_phone": ("FLAG_PROFESSIONAL_PHONE", "PROFESSIONAL_PHONE_AREA_CODE"),
    "birthplace": ("STATE_OF_BIRTH", "CITY_OF_BIRTH"),
    "cards": ("FLAG_VISA", "FLAG_MASTERCARD", "FLAG_DINERS", "FLAG_AMERICAN_EXPRESS", "FLAG_OTHER_CARDS"),
    "occupation": ("PROFESSION_CODE", "OCCUPATION_TYPE"),
}


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


# -- the reference applicant -----------------------------------------------------------------------


def reference_applicant(frame: pd.DataFrame, groups: Mapping[str, Sequence[str]] = GROUPS) -> dict[str, object]:
    """Typical applicant from training data: median for numeric, most frequent for categorical/text (None-aware).

    * A numeric quantity takes the median of the present values (an observed value, so an age is
      never 40.5), or None when most rows miss it: then the typical applicant has none.
    * Codes and text take the most frequent value, counting "missing" as a value; free text is
      counted after normalising case and accents ("Sao Paulo" and "SAO PAULO" are one city).
    * Grouped columns are chosen one after the other among the rows that match the earlier ones
      (the most frequent state, then the most frequent city in it...), so the reference address exists.

    JSON-serialisable (int/float/str/None), with every feature column of the schema.
    """
    X = frame[[c for c in schema.FEATURE_NAMES if c in frame.columns]]
    reference: dict[str, object] = {}
    for members in groups.values():
        rows = np.ones(len(X), dtype=bool)
        for name in (m for m in members if m in X.columns):
            value = _typical(X[name][rows], name)
            reference[name] = value
            rows &= _equals(_mode_keys(X[name]), value).to_numpy()  # the mode's rows are never empty
    for name in X.columns:
        if name not in reference:
            reference[name] = _typical(X[name], name)
    return {name: reference[name] for name in X.columns}


def approved_reference(
    frame: pd.DataFrame,
    probability: np.ndarray,
    threshold: float,
    score: Any,
    groups: Mapping[str, Sequence[str]] = GROUPS,
) -> tuple[dict[str, object], float]:
    """The typical *approved* applicant, and its probability: the reference reasons are measured from.

    :func:`reference_applicant` of the rows whose (out-of-fold) ``probability`` is below the cut-off.
    A typical applicant is not always approved (the typical development applicant is declined at
    the profit cut-off), so while ``score`` (the final model's probability of one applicant's
    fields) puts it at or above ``threshold``, the rows kept shrink to the safer half of the
    approved: every declined applicant is then riskier than the reference. Too few rows left for
    that (a small training file), the approved row the model finds safest is the reference.
    """
    kept = probability < threshold
    while kept.sum() >= 100:
        reference = reference_applicant(frame[kept], groups)
        risk = float(score(reference))
        if risk < threshold:
            return reference, risk
        kept &= probability < np.median(probability[kept])
    candidates = frame[probability < threshold] if (probability < threshold).any() else frame
    rows = [
        {name: _json_value(value) for name, value in row.items()}
        for row in candidates[[c for c in schema.FEATURE_NAMES if c in frame.columns]].to_dict("records")
    ]
    risks = [float(score(row)) for row in rows]
    best = int(np.argmin(risks))
    return rows[best], risks[best]


def _equals(values: pd.Series, target: object) -> pd.Series:
    """Elementwise ``values == target`` where missing equals missing."""
    missing = values.isna()
    if _is_missing(target):
        return missing
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        numbers = pd.to_numeric(values, errors="coerce")
        return ~missing & (numbers == float(target))
    return ~missing & (values.astype(object) == target)


def _typical(values: pd.Series, name: str) -> object:
    column = schema.COLUMNS_BY_NAME[name]
    if column.is_numeric and name not in _CODE_LIKE:
        present = values.dropna().to_numpy(dtype=float)
        if len(present) == 0 or len(present) * 2 < len(values):
            return None
        return _json_number(float(np.quantile(present, 0.5, method="inverted_cdf")))
    counts = _mode_keys(values).value_counts(dropna=False, sort=False)
    if counts.empty:
        return None
    best = counts.index[int(np.argmax(counts.to_numpy()))]  # first of the ties, in order of appearance
    return _json_value(best)


def _mode_keys(values: pd.Series) -> pd.Series:
    """Values as counted for a mode: free text normalised ('Sao Paulo' is 'SAO PAULO')."""
    if schema.COLUMNS_BY_NAME[str(values.name)].kind is not schema.Kind.TEXT:
        return values
    return values.map(lambda v: normalize_text(v) if isinstance(v, str) else None).astype(object)


# -- explaining ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """What one reason can be about: a single column or a whole group."""

    columns: tuple[str, ...]
    group: str | None


def explain(
    scorer: CompiledScorer,
    frame: pd.DataFrame,
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
    units, grouped = [], set()
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
    remaining = list(np.flatnonzero(_differs(encoded, base, units, np.array([row]))[0]))
    member = _member_matrix(encoded.names, units)
    chosen: list[int] = []
    while remaining:
        at_reference = member[:, chosen].any(axis=1)[None, :] | member.T[remaining]
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
    own = {c: _json_value(values[c][row]) for c in columns}
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
        own = {c: [_json_value(v) for v in values[c][rows[at[picked]]]] for c in unit.columns}
        for n, position in enumerate(picked):
            made[position] = _reason_of(
                unit, {c: own[c][n] for c in unit.columns}, reference, float(top[at[position], rank[position]])
            )
    out: list[list[Reason]] = [[] for _ in range(len(rows))]
    for position, i in enumerate(at):
        out[i].append(made[position])  # type: ignore[arg-type]
    return out


def _reason(unit: _Unit, raw: Mapping[str, object], reference: Mapping[str, object], impact: float) -> Reason:
    return _reason_of(unit, {c: _json_value(v) for c, v in raw.items()}, reference, impact)


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


# -- wording ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """How to say one input. ``template`` may use {value}, {reference} and {direction}.

    ``direction`` is ``lower``/``higher`` as the value compares with the reference (quantities
    only). ``phrases`` give a whole sentence for a value (flags: "No home phone"), since the
    reference of a yes/no input is implied. ``label`` names the input in "... not given" and lists.
    """

    label: str
    template: str = ""
    lower: str = ""
    higher: str = ""
    phrases: Mapping[str, str] = field(default_factory=dict)
    shown: Mapping[str, str] = field(default_factory=dict)  # display of codes: {"0": "code 0"}
    money: bool = False


def _yes_no(yes: str, no: str, codes: tuple[str, str] = ("Y", "N")) -> dict[str, str]:
    return {codes[0]: yes, codes[1]: no}


_FLAG01 = ("1", "0")
_FEWER_MORE = {"lower": "fewer than", "higher": "more than"}

WORDING: dict[str, Wording] = {
    "CLERK_TYPE": Wording("clerk type", "Clerk type {value} (reference {reference})"),
    "PAYMENT_DAY": Wording("payment day", "Chose payment day {value} (reference day {reference})"),
    "APPLICATION_SUBMISSION_TYPE": Wording(
        "application channel", "Application channel: {value} (reference {reference})", shown={"0": "code 0"}
    ),
    "QUANT_ADDITIONAL_CARDS": Wording(
        "additional cards requested",
        "Asked for {value} additional cards, {direction} the reference ({reference})",
        **_FEWER_MORE,
    ),
    "POSTAL_ADDRESS_TYPE": Wording("postal address type", "Postal address type {value} (reference {reference})"),
    "SEX": Wording("sex", "Sex recorded as {value} (reference {reference})"),
    "MARITAL_STATUS": Wording("marital status", "Marital status code {value} (reference {reference})"),
    "QUANT_DEPENDANTS": Wording(
        "number of dependants", "{value} dependants, {direction} the reference ({reference})", **_FEWER_MORE
    ),
    "EDUCATION_LEVEL": Wording("education level", "Education level code {value} (reference {reference})"),
    "STATE_OF_BIRTH": Wording("state of birth", "Born in state {value} (reference {reference})"),
    "CITY_OF_BIRTH": Wording("city of birth", "Born in {value} (reference {reference})"),
    "NACIONALITY": Wording("country of birth", "Country of birth code {value} (reference {reference})"),
    "RESIDENCIAL_STATE": Wording("home state", "Lives in state {value} (reference {reference})"),
    "RESIDENCIAL_CITY": Wording("home city", "Lives in {value} (reference {reference})"),
    "RESIDENCIAL_BOROUGH": Wording("home borough", "Lives in borough {value} (reference {reference})"),
    "FLAG_RESIDENCIAL_PHONE": Wording("home phone", phrases=_yes_no("Has a home phone", "No home phone")),
    "RESIDENCIAL_PHONE_AREA_CODE": Wording(
        "home phone area code", "Home phone area code {value} (reference {reference})"
    ),
    "RESIDENCE_TYPE": Wording("residence type", "Residence type code {value} (reference {reference})"),
    "MONTHS_IN_RESIDENCE": Wording(
        "months in current residence",
        "{value} months in the current residence, {direction} the reference ({reference})",
        **_FEWER_MORE,
    ),
    "FLAG_MOBILE_PHONE": Wording("mobile phone", phrases=_yes_no("Has a mobile phone", "No mobile phone")),
    "FLAG_EMAIL": Wording("e-mail address", phrases=_yes_no("Has an e-mail address", "No e-mail address", _FLAG01)),
    "PERSONAL_MONTHLY_INCOME": Wording(
        "declared monthly income",
        "Declared monthly income {value} is {direction} (reference {reference})",
        "low",
        "high",
        money=True,
    ),
    "OTHER_INCOMES": Wording(
        "other monthly incomes",
        "Other monthly incomes {value} are {direction} (reference {reference})",
        "low",
        "high",
        money=True,
    ),
    "FLAG_VISA": Wording("VISA card", phrases=_yes_no("Holds a VISA card", "No VISA card", _FLAG01)),
    "FLAG_MASTERCARD": Wording(
        "MASTERCARD card", phrases=_yes_no("Holds a MASTERCARD card", "No MASTERCARD card", _FLAG01)
    ),
    "FLAG_DINERS": Wording("DINERS card", phrases=_yes_no("Holds a DINERS card", "No DINERS card", _FLAG01)),
    "FLAG_AMERICAN_EXPRESS": Wording(
        "AMERICAN EXPRESS card", phrases=_yes_no("Holds an AMERICAN EXPRESS card", "No AMERICAN EXPRESS card", _FLAG01)
    ),
    "FLAG_OTHER_CARDS": Wording("other cards", phrases=_yes_no("Holds other cards", "No other cards", _FLAG01)),
    "QUANT_BANKING_ACCOUNTS": Wording(
        "bank accounts", "{value} bank accounts, {direction} the reference ({reference})", **_FEWER_MORE
    ),
    "QUANT_SPECIAL_BANKING_ACCOUNTS": Wording(
        "special bank accounts", "{value} special bank accounts, {direction} the reference ({reference})", **_FEWER_MORE
    ),
    "PERSONAL_ASSETS_VALUE": Wording(
        "value of personal assets",
        "Declared personal assets {value} are {direction} (reference {reference})",
        "low",
        "high",
        money=True,
    ),
    "QUANT_CARS": Wording("cars owned", "{value} cars owned, {direction} the reference ({reference})", **_FEWER_MORE),
    "COMPANY": Wording(
        "employer",
        phrases=_yes_no(
            "Named the company where they formally work", "Did not name a company where they formally work"
        ),
    ),
    "PROFESSIONAL_STATE": Wording("work state", "Works in state {value} (reference {reference})"),
    "PROFESSIONAL_CITY": Wording("work city", "Works in {value} (reference {reference})"),
    "PROFESSIONAL_BOROUGH": Wording("work borough", "Works in borough {value} (reference {reference})"),
    "FLAG_PROFESSIONAL_PHONE": Wording("work phone", phrases=_yes_no("Gave a work phone", "No work phone given")),
    "PROFESSIONAL_PHONE_AREA_CODE": Wording(
        "work phone area code", "Work phone area code {value} (reference {reference})"
    ),
    "MONTHS_IN_THE_JOB": Wording(
        "months in current job",
        "{value} months in the current job, {direction} the reference ({reference})",
        **_FEWER_MORE,
    ),
    "PROFESSION_CODE": Wording("profession", "Profession code {value} (reference {reference})"),
    "OCCUPATION_TYPE": Wording("occupation type", "Occupation type code {value} (reference {reference})"),
    "MATE_PROFESSION_CODE": Wording("spouse's profession", "Spouse's profession code {value} (reference {reference})"),
    "MATE_EDUCATION_LEVEL": Wording(
        "spouse's education level", "Spouse's education level code {value} (reference {reference})"
    ),
    "FLAG_HOME_ADDRESS_DOCUMENT": Wording(
        "home address document",
        phrases=_yes_no("Home address confirmed by a document", "Home address not confirmed by a document", _FLAG01),
    ),
    "FLAG_RG": Wording(
        "citizen card number",
        phrases=_yes_no("Citizen card number confirmed", "Citizen card number not confirmed", _FLAG01),
    ),
    "FLAG_CPF": Wording(
        "taxpayer status", phrases=_yes_no("Taxpayer status confirmed", "Taxpayer status not confirmed", _FLAG01)
    ),
    "FLAG_INCOME_PROOF": Wording(
        "income document",
        phrases=_yes_no("Income confirmed by a document", "Income not confirmed by a document", _FLAG01),
    ),
    "PRODUCT": Wording("credit product", "Applied for credit product {value} (reference {reference})"),
    "FLAG_ACSP_RECORD": Wording(
        "credit delinquency record",
        phrases=_yes_no("Has a record of previous credit delinquency", "No record of previous credit delinquency"),
    ),
    "AGE": Wording(
        "age", "Age {value}: {direction} the reference applicant ({reference})", "younger than", "older than"
    ),
    "RESIDENCIAL_ZIP_3": Wording("home zip code", "Home zip code starts {value} (reference {reference})"),
    "PROFESSIONAL_ZIP_3": Wording("work zip code", "Work zip code starts {value} (reference {reference})"),
}


def wording(column: str) -> Wording:
    """The column's wording, or a generic one from the schema's description."""
    if column in WORDING:
        return WORDING[column]
    label = schema.COLUMNS_BY_NAME[column].description if column in schema.COLUMNS_BY_NAME else column
    return Wording(label[:1].lower() + label[1:])


def describe(column: str, value: object, reference: object) -> str:
    """One sentence about one input, factual and neutral, e.g. "No home phone"."""
    words = wording(column)
    if _is_missing(value):
        suffix = "" if _is_missing(reference) else f" (reference {_show(column, reference)})"
        return f"{_capitalise(words.label)} not given{suffix}"
    key = str(value)
    if key in words.phrases:
        return words.phrases[key]
    direction = _direction(words, value, reference)
    shown, ref = _show(column, value), _show(column, reference)
    if words.template and ("{direction}" not in words.template or direction):
        return words.template.format(value=shown, reference=ref, direction=direction)
    return f"{_capitalise(words.label)}: {shown} (reference {ref})"


def _direction(words: Wording, value: object, reference: object) -> str:
    if not (words.lower and isinstance(value, (int, float)) and isinstance(reference, (int, float))):
        return ""
    return words.lower if value < reference else words.higher if value > reference else ""


_GROUP_LABELS = {
    "home_address": "Home address",
    "home_phone": "Home phone",
    "work_address": "Work address",
    "work_phone": "Work phone",
    "birthplace": "Place of birth",
    "cards": "Credit cards",
    "occupation": "Occupation",
}
_SHORT = {
    "RESIDENCIAL_STATE": "state",
    "RESIDENCIAL_CITY": "city",
    "RESIDENCIAL_BOROUGH": "borough",
    "RESIDENCIAL_ZIP_3": "zip",
    "PROFESSIONAL_STATE": "state",
    "PROFESSIONAL_CITY": "city",
    "PROFESSIONAL_BOROUGH": "borough",
    "PROFESSIONAL_ZIP_3": "zip",
    "STATE_OF_BIRTH": "state",
    "CITY_OF_BIRTH": "city",
    "RESIDENCIAL_PHONE_AREA_CODE": "area code",
    "PROFESSIONAL_PHONE_AREA_CODE": "area code",
    "PROFESSION_CODE": "profession code",
    "OCCUPATION_TYPE": "occupation type code",
}
_CARD_NAMES = {
    "FLAG_VISA": "VISA",
    "FLAG_MASTERCARD": "MASTERCARD",
    "FLAG_DINERS": "DINERS",
    "FLAG_AMERICAN_EXPRESS": "AMERICAN EXPRESS",
    "FLAG_OTHER_CARDS": "other",
}


def describe_group(group: str, values: Mapping[str, object], reference: Mapping[str, object]) -> str:
    """One sentence about a group, naming only the members that differ from the reference."""
    changed = [c for c in values if not _same(values[c], reference[c])]
    if group == "cards":
        return _describe_cards(values, reference)
    flag = next((c for c in changed if c.startswith("FLAG_") and str(values[c]) in wording(c).phrases), None)
    if flag is not None:  # "No home phone" says it all: the area code follows from it
        return wording(flag).phrases[str(values[flag])]
    label = _GROUP_LABELS.get(group, _capitalise(group.replace("_", " ")))
    if all(_is_missing(values[c]) for c in values):
        return f"{label} not given"
    mine = ", ".join(f"{_SHORT.get(c, wording(c).label)} {_show(c, values[c])}" for c in changed)
    if all(_is_missing(reference[c]) for c in changed):
        theirs = "not given"
    elif any(_is_missing(reference[c]) for c in changed):  # name the members so the gaps read clearly
        theirs = ", ".join(f"{_SHORT.get(c, wording(c).label)} {_show(c, reference[c])}" for c in changed)
    else:
        theirs = ", ".join(_show(c, reference[c]) for c in changed)
    return f"{label}: {mine} (reference {theirs})"


def _describe_cards(values: Mapping[str, object], reference: Mapping[str, object]) -> str:
    def held(flags: Mapping[str, object]) -> str:
        names = [_CARD_NAMES.get(c, c) for c, v in flags.items() if str(v) == "1"]
        return ", ".join(names) or "none"

    if all(_is_missing(v) for v in values.values()):
        return "Credit cards held: not given"
    return f"Credit cards held: {held(values)} (reference {held(reference)})"


def _show(column: str, value: object) -> str:
    if _is_missing(value):
        return "not given"
    words = wording(column)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
        return f"R$ {number}" if words.money else number
    return words.shown.get(str(value), str(value))


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


# -- small helpers ---------------------------------------------------------------------------------


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _same(a: object, b: object) -> bool:
    if _is_missing(a) or _is_missing(b):
        return _is_missing(a) and _is_missing(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def _json_number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _json_value(value: object) -> object:
    """Plain Python for JSON: numpy scalars unwrapped, whole floats as int, NaN as None."""
    if type(value) is str:  # the common case first
        return value
    if _is_missing(value):
        return None
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float):
        return _json_number(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return value if isinstance(value, (int, str)) else str(value)
