"""Decision reasons: the inputs that raised one applicant's predicted risk most, in plain words.

A reason is faithful to the model by construction. For every input (or group of inputs that only
make sense together, such as a home address) whose value differs from a *reference applicant*,
the input is set to the reference value and the model scores the changed copy. The drop in the
probability of default is the reason's ``impact``; only strictly positive drops become reasons,
and the largest come first. Nothing is approximated: ``impact`` is exactly
``p(applicant) - p(applicant with that input at the reference value)``.

The substituted copies of many rows and inputs go through a few large ``predict_proba`` calls
(chunked to bound memory), because a pipeline costs far more per call than per row.
:func:`score_and_explain` also returns the applicant's own probability from the same call, so a
service that needs both pays for one call, not two.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml import schema
from ml.features import AREA_CODE_COLUMNS, CODE_COLUMNS, normalize_text

# Rows of substituted copies per predict_proba call: ~50 MB of frame, and large enough that the
# per-call overhead of a pipeline (tens of ms) is negligible.
DEFAULT_CHUNK_ROWS = 50_000

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


@dataclass(frozen=True)
class Reason:
    column: str  # input column name; for a group, its first column (all of them in ``columns``)
    text: str  # what a loan officer reads
    value: object  # this applicant's value; a {column: value} dict for a group; None for missing
    reference: object  # the reference value, shaped like ``value``
    impact: float  # drop in probability of default if the input took the reference value (> 0)
    columns: tuple[str, ...] = field(default=())  # every input substituted together
    group: str | None = None  # the group's name (a key of GROUPS), None for a single column

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["columns"] = list(self.columns or (self.column,))
        return out


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
    model: Any,
    frame: pd.DataFrame,
    reference: Mapping[str, object],
    *,
    columns: Sequence[str] | None = None,
    excluded: Sequence[str] | None = None,
    max_reasons: int = 4,
    min_impact: float = 1e-4,
    groups: Mapping[str, Sequence[str]] | None = GROUPS,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> list[list[Reason]]:
    """Reasons for every row of `frame` (raw typed features, same columns as for predict_proba)."""
    return score_and_explain(model, frame, reference, columns=columns, excluded=excluded, max_reasons=max_reasons,
                             min_impact=min_impact, groups=groups, chunk_rows=chunk_rows)[1]  # fmt: skip


def score_and_explain(
    model: Any,
    frame: pd.DataFrame,
    reference: Mapping[str, object],
    *,
    columns: Sequence[str] | None = None,
    excluded: Sequence[str] | None = None,
    max_reasons: int = 4,
    min_impact: float = 1e-4,
    groups: Mapping[str, Sequence[str]] | None = GROUPS,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> tuple[np.ndarray, list[list[Reason]]]:
    """The probability of default of every row and its reasons, from the same predict_proba calls.

    ``columns``: inputs that may be reasons (default: every feature the model does not exclude;
    a shorter list, e.g. the most important inputs, is proportionally faster). ``excluded``:
    inputs never to explain (default: read from the model, else the schema's default). Columns
    absent from ``reference`` cannot be substituted and are skipped. ``groups=None`` explains
    every column on its own.
    """
    X = frame[list(schema.FEATURE_NAMES)].reset_index(drop=True)
    units = _units(_candidate_columns(model, reference, columns, excluded), groups or {})
    differs = _differs(X, units, reference)
    probability = np.empty(len(X))
    impact = np.full((len(X), len(units)), -np.inf)
    for rows in _row_chunks(differs, chunk_rows):
        probability[rows], impact[rows] = _impacts(model, X.iloc[rows], units, differs[rows], reference)
    return probability, _select(X, units, impact, reference, max_reasons, min_impact)


def _candidate_columns(
    model: Any, reference: Mapping[str, object], columns: Sequence[str] | None, excluded: Sequence[str] | None
) -> list[str]:
    skip = set(model_excluded(model) if excluded is None else excluded)
    wanted = schema.FEATURE_NAMES if columns is None else columns
    unknown = [c for c in wanted if c not in schema.FEATURE_NAMES]
    if unknown:
        raise ValueError(f"not input columns: {', '.join(unknown)}")
    return [c for c in wanted if c not in skip and c in reference]


def model_excluded(model: Any) -> tuple[str, ...]:
    """The inputs the model drops itself (its ``excluded`` parameter), found inside wrappers.

    Looks through Pipelines and CalibratedClassifierCV for a step with an ``excluded`` list; a
    model without one is assumed to exclude the schema's protected attributes.
    """
    for estimator in _walk(model):
        value = getattr(estimator, "excluded", None)
        if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    return schema.DEFAULT_EXCLUDED


def _walk(estimator: Any, depth: int = 0) -> Iterator[Any]:
    if depth > 8:
        return
    yield estimator
    children: list[Any] = [step for _, step in getattr(estimator, "steps", [])]
    children += [c.estimator for c in getattr(estimator, "calibrated_classifiers_", [])]
    children += [getattr(estimator, "estimator", None)]
    for child in children:
        if child is not None and not isinstance(child, str):
            yield from _walk(child, depth + 1)


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


def _differs(X: pd.DataFrame, units: Sequence[_Unit], reference: Mapping[str, object]) -> np.ndarray:
    """rows x units: True where some column of the unit is not at the reference value."""
    per_column = {c: ~_equals(X[c], reference[c]).to_numpy() for unit in units for c in unit.columns}
    out = np.zeros((len(X), len(units)), dtype=bool)
    for j, unit in enumerate(units):
        for c in unit.columns:
            out[:, j] |= per_column[c]
    return out


def _equals(values: pd.Series, target: object) -> pd.Series:
    """Elementwise ``values == target`` where missing equals missing."""
    missing = values.isna()
    if _is_missing(target):
        return missing
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        numbers = pd.to_numeric(values, errors="coerce")
        return ~missing & (numbers == float(target))
    return ~missing & (values.astype(object) == target)


def _row_chunks(differs: np.ndarray, chunk_rows: int) -> Iterator[np.ndarray]:
    """Consecutive row ranges whose copies (one a row, plus one a differing unit) fit ``chunk_rows``."""
    cost = 1 + differs.sum(axis=1)
    start = 0
    while start < len(cost):
        taken = np.searchsorted(np.cumsum(cost[start:]), max(chunk_rows, int(cost[start])), side="right")
        stop = start + max(1, int(taken))
        yield np.arange(start, stop)
        start = stop


def _impacts(
    model: Any, X: pd.DataFrame, units: Sequence[_Unit], differs: np.ndarray, reference: Mapping[str, object]
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of the rows and, for each (row, differing unit), the drop at the reference.

    The rows themselves come first in the scored frame, then one copy per differing pair; every
    column is built with one fancy-indexing take, and the unit's columns overwritten.
    """
    n = len(X)
    pair_row, pair_unit = np.nonzero(differs)
    source_row = np.concatenate([np.arange(n), pair_row])
    source_unit = np.concatenate([np.full(n, len(units)), pair_unit])  # len(units): "no substitution"
    data = {}
    for name in X.columns:
        values = X[name].to_numpy()[source_row]
        substituted = np.array([name in u.columns for u in units] + [False])[source_unit]
        if substituted.any():
            values = values.copy()
            values[substituted] = _frame_value(reference[name], X[name].dtype)
        data[name] = pd.Series(values, dtype=X[name].dtype)
    proba = np.asarray(model.predict_proba(pd.DataFrame(data))[:, 1], dtype=float)
    impact = np.full(differs.shape, -np.inf)
    impact[pair_row, pair_unit] = proba[pair_row] - proba[n:]
    return proba[:n], impact


def _frame_value(value: object, dtype: Any) -> object:
    """The reference as the frame holds it: NaN in float columns, None in object ones."""
    if pd.api.types.is_float_dtype(dtype):
        return np.nan if _is_missing(value) else float(value)  # type: ignore[arg-type]
    return None if _is_missing(value) else value


def _select(
    X: pd.DataFrame,
    units: Sequence[_Unit],
    impact: np.ndarray,
    reference: Mapping[str, object],
    max_reasons: int,
    min_impact: float,
) -> list[list[Reason]]:
    """The ``max_reasons`` largest impacts above ``min_impact`` of each row, largest first."""
    if not units or max_reasons <= 0:
        return [[] for _ in range(len(X))]
    # A stable sort on -impact keeps the units' order among ties, so results are reproducible.
    order = np.argsort(-impact, axis=1, kind="stable")[:, :max_reasons]
    top = np.take_along_axis(impact, order, axis=1)
    keep = top > max(min_impact, 0.0)
    columns = {c: X[c].to_numpy() for u in units for c in u.columns}
    out: list[list[Reason]] = []
    for i in range(len(X)):
        row = [_reason(units[j], {c: columns[c][i] for c in units[j].columns}, reference, float(top[i, k]))
               for k, j in enumerate(order[i]) if keep[i, k]]  # fmt: skip
        out.append(row)
    return out


def _reason(unit: _Unit, raw: Mapping[str, object], reference: Mapping[str, object], impact: float) -> Reason:
    values = {c: _json_value(v) for c, v in raw.items()}
    refs = {c: reference[c] for c in unit.columns}
    if unit.group is None:
        (name,) = unit.columns
        return Reason(name, describe(name, values[name], refs[name]), values[name], refs[name], impact, unit.columns)
    text = describe_group(unit.group, values, refs)
    return Reason(unit.columns[0], text, values, refs, impact, unit.columns, unit.group)


# -- wording ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """How to say one input. ``template`` may use {value}, {reference} and {direction}.

    ``direction`` is ``lower``/``higher`` as the value compares with the reference (quantities
    only). ``phrases`` give a whole sentence for a value (flags: "No home phone"), since the
    reference of a yes/no input is implied. ``label`` names the input in "Missing: ..." and lists.
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
        "application channel", "Application channel: {value} (reference {reference})", shown={"0": "code 0"}),
    "QUANT_ADDITIONAL_CARDS": Wording(
        "additional cards requested", "Asked for {value} additional cards, {direction} the reference ({reference})",
        **_FEWER_MORE),
    "POSTAL_ADDRESS_TYPE": Wording("postal address type", "Postal address type {value} (reference {reference})"),
    "SEX": Wording("sex", "Sex recorded as {value} (reference {reference})"),
    "MARITAL_STATUS": Wording("marital status", "Marital status code {value} (reference {reference})"),
    "QUANT_DEPENDANTS": Wording(
        "number of dependants", "{value} dependants, {direction} the reference ({reference})", **_FEWER_MORE),
    "EDUCATION_LEVEL": Wording("education level", "Education level code {value} (reference {reference})"),
    "STATE_OF_BIRTH": Wording("state of birth", "Born in state {value} (reference {reference})"),
    "CITY_OF_BIRTH": Wording("city of birth", "Born in {value} (reference {reference})"),
    "NACIONALITY": Wording("country of birth", "Country of birth code {value} (reference {reference})"),
    "RESIDENCIAL_STATE": Wording("home state", "Lives in state {value} (reference {reference})"),
    "RESIDENCIAL_CITY": Wording("home city", "Lives in {value} (reference {reference})"),
    "RESIDENCIAL_BOROUGH": Wording("home borough", "Lives in borough {value} (reference {reference})"),
    "FLAG_RESIDENCIAL_PHONE": Wording("home phone", phrases=_yes_no("Has a home phone", "No home phone")),
    "RESIDENCIAL_PHONE_AREA_CODE": Wording(
        "home phone area code", "Home phone area code {value} (reference {reference})"),
    "RESIDENCE_TYPE": Wording("residence type", "Residence type code {value} (reference {reference})"),
    "MONTHS_IN_RESIDENCE": Wording(
        "months in current residence", "{value} months in the current residence, {direction} the reference ({reference})",
        **_FEWER_MORE),
    "FLAG_MOBILE_PHONE": Wording("mobile phone", phrases=_yes_no("Has a mobile phone", "No mobile phone")),
    "FLAG_EMAIL": Wording("e-mail address", phrases=_yes_no("Has an e-mail address", "No e-mail address", _FLAG01)),
    "PERSONAL_MONTHLY_INCOME": Wording(
        "declared monthly income", "Declared monthly income {value} is {direction} (reference {reference})",
        "low", "high", money=True),
    "OTHER_INCOMES": Wording(
        "other monthly incomes", "Other monthly incomes {value} are {direction} (reference {reference})",
        "low", "high", money=True),
    "FLAG_VISA": Wording("VISA card", phrases=_yes_no("Holds a VISA card", "No VISA card", _FLAG01)),
    "FLAG_MASTERCARD": Wording(
        "MASTERCARD card", phrases=_yes_no("Holds a MASTERCARD card", "No MASTERCARD card", _FLAG01)),
    "FLAG_DINERS": Wording("DINERS card", phrases=_yes_no("Holds a DINERS card", "No DINERS card", _FLAG01)),
    "FLAG_AMERICAN_EXPRESS": Wording(
        "AMERICAN EXPRESS card", phrases=_yes_no("Holds an AMERICAN EXPRESS card", "No AMERICAN EXPRESS card", _FLAG01)),
    "FLAG_OTHER_CARDS": Wording("other cards", phrases=_yes_no("Holds other cards", "No other cards", _FLAG01)),
    "QUANT_BANKING_ACCOUNTS": Wording(
        "bank accounts", "{value} bank accounts, {direction} the reference ({reference})", **_FEWER_MORE),
    "QUANT_SPECIAL_BANKING_ACCOUNTS": Wording(
        "special bank accounts", "{value} special bank accounts, {direction} the reference ({reference})",
        **_FEWER_MORE),
    "PERSONAL_ASSETS_VALUE": Wording(
        "value of personal assets", "Declared personal assets {value} are {direction} (reference {reference})",
        "low", "high", money=True),
    "QUANT_CARS": Wording("cars owned", "{value} cars owned, {direction} the reference ({reference})", **_FEWER_MORE),
    "COMPANY": Wording("employer", phrases=_yes_no(
        "Named the company where they formally work", "Did not name a company where they formally work")),
    "PROFESSIONAL_STATE": Wording("work state", "Works in state {value} (reference {reference})"),
    "PROFESSIONAL_CITY": Wording("work city", "Works in {value} (reference {reference})"),
    "PROFESSIONAL_BOROUGH": Wording("work borough", "Works in borough {value} (reference {reference})"),
    "FLAG_PROFESSIONAL_PHONE": Wording("work phone", phrases=_yes_no("Gave a work phone", "No work phone given")),
    "PROFESSIONAL_PHONE_AREA_CODE": Wording(
        "work phone area code", "Work phone area code {value} (reference {reference})"),
    "MONTHS_IN_THE_JOB": Wording(
        "months in current job", "{value} months in the current job, {direction} the reference ({reference})",
        **_FEWER_MORE),
    "PROFESSION_CODE": Wording("profession", "Profession code {value} (reference {reference})"),
    "OCCUPATION_TYPE": Wording("occupation type", "Occupation type code {value} (reference {reference})"),
    "MATE_PROFESSION_CODE": Wording("spouse's profession", "Spouse's profession code {value} (reference {reference})"),
    "MATE_EDUCATION_LEVEL": Wording(
        "spouse's education level", "Spouse's education level code {value} (reference {reference})"),
    "FLAG_HOME_ADDRESS_DOCUMENT": Wording("home address document", phrases=_yes_no(
        "Home address confirmed by a document", "Home address not confirmed by a document", _FLAG01)),
    "FLAG_RG": Wording("citizen card number", phrases=_yes_no(
        "Citizen card number confirmed", "Citizen card number not confirmed", _FLAG01)),
    "FLAG_CPF": Wording("taxpayer status", phrases=_yes_no(
        "Taxpayer status confirmed", "Taxpayer status not confirmed", _FLAG01)),
    "FLAG_INCOME_PROOF": Wording("income document", phrases=_yes_no(
        "Income confirmed by a document", "Income not confirmed by a document", _FLAG01)),
    "PRODUCT": Wording("credit product", "Applied for credit product {value} (reference {reference})"),
    "FLAG_ACSP_RECORD": Wording("credit delinquency record", phrases=_yes_no(
        "Has a record of previous credit delinquency", "No record of previous credit delinquency")),
    "AGE": Wording("age", "Age {value}: {direction} the reference applicant ({reference})",
                   "younger than", "older than"),
    "RESIDENCIAL_ZIP_3": Wording("home zip code", "Home zip code starts {value} (reference {reference})"),
    "PROFESSIONAL_ZIP_3": Wording("work zip code", "Work zip code starts {value} (reference {reference})"),
}  # fmt: skip


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
        return f"Missing: {words.label}{suffix}"
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
    "RESIDENCIAL_STATE": "state", "RESIDENCIAL_CITY": "city", "RESIDENCIAL_BOROUGH": "borough",
    "RESIDENCIAL_ZIP_3": "zip", "PROFESSIONAL_STATE": "state", "PROFESSIONAL_CITY": "city",
    "PROFESSIONAL_BOROUGH": "borough", "PROFESSIONAL_ZIP_3": "zip", "STATE_OF_BIRTH": "state",
    "CITY_OF_BIRTH": "city", "RESIDENCIAL_PHONE_AREA_CODE": "area code",
    "PROFESSIONAL_PHONE_AREA_CODE": "area code", "PROFESSION_CODE": "profession code",
    "OCCUPATION_TYPE": "occupation type code",
}  # fmt: skip
_CARD_NAMES = {"FLAG_VISA": "VISA", "FLAG_MASTERCARD": "MASTERCARD", "FLAG_DINERS": "DINERS",
               "FLAG_AMERICAN_EXPRESS": "AMERICAN EXPRESS", "FLAG_OTHER_CARDS": "other"}  # fmt: skip


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
        return f"Missing: {label.lower()}"
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
        return "Missing: credit cards held"
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
    if _is_missing(value):
        return None
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float):
        return _json_number(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return value if isinstance(value, (int, str)) else str(value)
