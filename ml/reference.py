"""The reference applicant: the typical (approved) applicant that decision reasons are measured from.

See :mod:`ml.reasons` for how a reason substitutes the reference's value for an applicant's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ml import schema
from ml.features import AREA_CODE_COLUMNS, CODE_COLUMNS, normalize_text
from ml.values import is_missing, json_number, json_value

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
        {str(name): json_value(value) for name, value in row.items()}
        for row in candidates[[c for c in schema.FEATURE_NAMES if c in frame.columns]].to_dict("records")
    ]
    risks = [float(score(row)) for row in rows]
    best = int(np.argmin(risks))
    return rows[best], risks[best]


def _equals(values: pd.Series, target: object) -> pd.Series:
    """Elementwise ``values == target`` where missing equals missing."""
    missing = values.isna()
    if is_missing(target):
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
        return json_number(float(np.quantile(present, 0.5, method="inverted_cdf")))
    counts = _mode_keys(values).value_counts(dropna=False, sort=False)
    if counts.empty:
        return None
    best = counts.index[int(np.argmax(counts.to_numpy()))]  # first of the ties, in order of appearance
    return json_value(best)


def _mode_keys(values: pd.Series) -> pd.Series:
    """Values as counted for a mode: free text normalised ('Sao Paulo' is 'SAO PAULO')."""
    if schema.COLUMNS_BY_NAME[str(values.name)].kind is not schema.Kind.TEXT:
        return values
    return values.map(lambda v: normalize_text(v) if isinstance(v, str) else None).astype(object)
