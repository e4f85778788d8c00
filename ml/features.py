"""Feature engineering for PAKDD 2010 applications, as scikit-learn transformers.

Everything here is learned inside ``fit`` only, so a pipeline built from these pieces can be
cross-validated honestly. Every transformer accepts the typed frame of
:func:`ml.data.load_applications` (numeric columns float with NaN, codes and text as strings with
None), ignores columns it does not know, and scores rows with values never seen in training
(unseen cities, a ``Y`` in a flag that was always ``N``) without error.

The service scores one applicant at a time, so ``transform`` works on plain NumPy arrays and
dictionaries rather than chains of pandas operations: each pandas call costs tens of microseconds
whatever the row count, and sklearn's own encoders rebuild their lookup tables from the fitted
categories on every call (milliseconds with ten thousand boroughs).

The pieces:

* :class:`ApplicationFeatures` -- drops excluded and training-constant columns, normalises free
  text, turns numeric codes into categories and adds derived features (income totals, counts of
  cards and phones, whether home and work addresses match...; :func:`derived_features`).
* :class:`KeyCodes` -- values as integer codes (unseen -1, missing NaN): before ``TargetEncoder``
  so that it looks values up with a binary search instead of rebuilding a dictionary on every
  call, and as the codes boosting and forests split on.
* :class:`FrequencyEncoder` -- how common a value was in training (a size signal that target
  encoding alone does not give).
* :class:`QuantileBins` -- scorecard-style binning of numeric features into one-hot indicators.
* :class:`QuantileCodes` -- the same bins as one integer code per column, for a target encoder to
  turn into a weight of evidence (the scorecard's classic coding: one coefficient per feature).
* :class:`ColumnGroup` -- a picklable column selector for ``ColumnTransformer`` by feature group.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_array, check_is_fitted

from ml import schema
from ml.values import is_missing

# -- feature groups --------------------------------------------------------------------------------

# Numeric columns that are really codes: their order means nothing, so they are categories.
CODE_COLUMNS: tuple[str, ...] = (
    "MARITAL_STATUS",
    "EDUCATION_LEVEL",
    "RESIDENCE_TYPE",
    "PROFESSION_CODE",
    "OCCUPATION_TYPE",
    "MATE_PROFESSION_CODE",
    "MATE_EDUCATION_LEVEL",
)

# Phone area pseudo-codes have ~100 values: too many to one-hot, so they go with the free text.
AREA_CODE_COLUMNS: tuple[str, str] = ("RESIDENCIAL_PHONE_AREA_CODE", "PROFESSIONAL_PHONE_AREA_CODE")

# Pairs whose combination locates an applicant better than either alone ("CENTRO" is everywhere).
KEY_COMBINATIONS: dict[str, tuple[str, ...]] = {
    "RESIDENCIAL_STATE_CITY": ("RESIDENCIAL_STATE", "RESIDENCIAL_CITY"),
    "RESIDENCIAL_CITY_BOROUGH": ("RESIDENCIAL_CITY", "RESIDENCIAL_BOROUGH"),
    "PROFESSION_OCCUPATION": ("PROFESSION_CODE", "OCCUPATION_TYPE"),
}

# High-cardinality keys: encoded by target and frequency encoding.
HIGH_CARDINALITY: tuple[str, ...] = (*schema.TEXT_COLUMNS, *AREA_CODE_COLUMNS, *KEY_COMBINATIONS)

# Low-cardinality codes: one-hot for linear models and networks, integer codes for trees.
LOW_CARDINALITY: tuple[str, ...] = (*schema.CATEGORY_COLUMNS, *CODE_COLUMNS)

STRING_INPUTS = frozenset((*schema.TEXT_COLUMNS, *schema.CATEGORY_COLUMNS))
_CARD_FLAGS = ("FLAG_VISA", "FLAG_MASTERCARD", "FLAG_DINERS", "FLAG_AMERICAN_EXPRESS", "FLAG_OTHER_CARDS")
_DOCUMENT_FLAGS = ("FLAG_HOME_ADDRESS_DOCUMENT", "FLAG_RG", "FLAG_CPF", "FLAG_INCOME_PROOF")
_PHONE_FLAGS = ("FLAG_RESIDENCIAL_PHONE", "FLAG_MOBILE_PHONE", "FLAG_PROFESSIONAL_PHONE")

# Pairs compared for equality: moving state, working far from home, and the like.
_SAME_VALUE_PAIRS: dict[str, tuple[str, str]] = {
    "SAME_STATE_BIRTH_HOME": ("STATE_OF_BIRTH", "RESIDENCIAL_STATE"),
    "SAME_CITY_BIRTH_HOME": ("CITY_OF_BIRTH", "RESIDENCIAL_CITY"),
    "SAME_STATE_HOME_WORK": ("RESIDENCIAL_STATE", "PROFESSIONAL_STATE"),
    "SAME_CITY_HOME_WORK": ("RESIDENCIAL_CITY", "PROFESSIONAL_CITY"),
    "SAME_BOROUGH_HOME_WORK": ("RESIDENCIAL_BOROUGH", "PROFESSIONAL_BOROUGH"),
    "SAME_AREA_CODE_HOME_WORK": AREA_CODE_COLUMNS,
}


def feature_group(name: str) -> str:
    """``"high_cardinality"``, ``"low_cardinality"`` or ``"numeric"`` for an output column."""
    if name in HIGH_CARDINALITY:
        return "high_cardinality"
    if name in LOW_CARDINALITY:
        return "low_cardinality"
    return "numeric"


class ColumnGroup:
    """Selects the columns of one :func:`feature_group` (a class, not a lambda, so it pickles).

    ``only`` keeps just those names of the group, ``exclude`` drops those: a group split in two,
    such as the numeric features with a monotone constraint and the rest.
    """

    def __init__(self, group: str, *, only: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> None:
        self.group = group
        self.only = None if only is None else tuple(only)
        self.exclude = tuple(exclude)

    def __call__(self, X: pd.DataFrame) -> list[str]:
        return [c for c in X.columns if feature_group(c) == self.group and self._wanted(c)]

    def _wanted(self, name: str) -> bool:
        return (self.only is None or name in self.only) and name not in self.exclude

    def __repr__(self) -> str:
        extra = (f", only={self.only!r}" if self.only is not None else "") + (
            f", exclude={self.exclude!r}" if self.exclude else ""
        )
        return f"ColumnGroup({self.group!r}{extra})"


# -- small helpers ---------------------------------------------------------------------------------

_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")


@lru_cache(maxsize=65536)
def normalize_text(value: str) -> str | None:
    """Upper case, no accents, punctuation and runs of blanks as one space: 'São  José' -> 'SAO JOSE'."""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    cleaned = _NOT_ALNUM.sub(" ", ascii_text.upper()).strip()
    return cleaned or None


def _objects(values: Any) -> np.ndarray:
    """An object array of strings with None for every kind of missing."""
    return np.array([None if is_missing(v) else str(v) for v in values], dtype=object)


def _floats(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def _as_frame(X: Any, columns: Sequence[str] | np.ndarray | None = None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X if columns is None else X[list(columns)]
    frame = pd.DataFrame(np.asarray(X, dtype=object))
    if columns is not None:
        frame.columns = list(columns)
    return frame


class _FittedColumns:
    """Shared bookkeeping for the column-wise encoders below.

    A DataFrame is taken as it is (its columns by name); any other input is checked as
    scikit-learn's ``check_array`` checks it (two-dimensional, dense, not empty, no complex
    numbers), and must have as many columns as in fit. Missing values are values of their own.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.allow_nan = True  # a missing value is coded, never refused
        return tags

    def _start_fit(self, X: Any) -> pd.DataFrame:
        X = _as_frame(_checked(X))
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return X

    def _columns_of(self, X: Any) -> pd.DataFrame:
        X = _checked(X)
        if not isinstance(X, pd.DataFrame) and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return _as_frame(X, self.feature_names_in_)


def _checked(X: Any) -> Any:
    if isinstance(X, pd.DataFrame):
        return X
    return check_array(X, accept_sparse=False, dtype=None, ensure_all_finite=False)


# -- the application feature builder ---------------------------------------------------------------

# Derived features and the inputs each is computed from. A derived feature moves with its inputs in
# the direction given: raising any of them never lowers it (+1) or never raises it (-1).
DERIVED_FROM: dict[str, dict[str, int]] = {
    "LOG_TOTAL_INCOME": {"PERSONAL_MONTHLY_INCOME": 1, "OTHER_INCOMES": 1},
    "LOG_INCOME_PER_PERSON": {"PERSONAL_MONTHLY_INCOME": 1, "OTHER_INCOMES": 1, "QUANT_DEPENDANTS": -1},
    "HAS_OTHER_INCOMES": {"OTHER_INCOMES": 1},
    "HAS_ASSETS": {"PERSONAL_ASSETS_VALUE": 1},
    "RESIDENCE_SHARE_OF_LIFE": {"MONTHS_IN_RESIDENCE": 1, "AGE": -1},
}


def derived_features(
    c: Mapping[str, np.ndarray],
    *,
    yes: Sequence[float],
    informative: Sequence[str],
    missing: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The derived numeric features, from typed columns in either of two forms.

    Numeric inputs are float arrays (NaN missing). Codes and text are float *keys* (NaN missing):
    any numbering in which equal values get equal keys, ``yes`` holding the keys of ``Y`` and ``1``.
    :class:`ApplicationFeatures` numbers the values of each call; the compiled scorer
    (:mod:`ml.scorer`) uses its fitted vocabulary. One definition serves both, so they agree.
    An input that is excluded yields no feature built from it; ``informative`` are the inputs
    that count as missing in ``N_MISSING`` (``missing``: that count, when the caller has it at hand).
    """
    n = len(next(iter(c.values())))
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        if "PERSONAL_MONTHLY_INCOME" in c:
            income = c["PERSONAL_MONTHLY_INCOME"]
            total = income + np.nan_to_num(c.get("OTHER_INCOMES", np.zeros(n)))
            people = 1 + np.nan_to_num(c.get("QUANT_DEPENDANTS", np.zeros(n)))
            out["LOG_TOTAL_INCOME"] = np.log1p(total)
            out["LOG_INCOME_PER_PERSON"] = np.log1p(total / people)
        if "OTHER_INCOMES" in c:
            out["HAS_OTHER_INCOMES"] = _flag(c["OTHER_INCOMES"] > 0, c["OTHER_INCOMES"])
        if "PERSONAL_ASSETS_VALUE" in c:
            out["HAS_ASSETS"] = _flag(c["PERSONAL_ASSETS_VALUE"] > 0, c["PERSONAL_ASSETS_VALUE"])
        out["N_CARDS"] = _count_yes(c, _CARD_FLAGS, yes, n)
        out["N_DOCUMENTS"] = _count_yes(c, _DOCUMENT_FLAGS, yes, n)
        out["N_PHONES"] = _count_yes(c, _PHONE_FLAGS, yes, n)
        if "PROFESSIONAL_STATE" in c:
            out["HAS_WORK_ADDRESS"] = (~np.isnan(c["PROFESSIONAL_STATE"])).astype(float)
        if "MONTHS_IN_RESIDENCE" in c and "AGE" in c:
            years = np.where(c["AGE"] > 0, c["AGE"], np.nan)
            out["RESIDENCE_SHARE_OF_LIFE"] = np.minimum(c["MONTHS_IN_RESIDENCE"] / (12 * years), 1.5)
        # Only columns that vary in training count: other files leave some constant ones empty.
        if missing is None:
            missing = np.zeros(n)
            for name in informative:
                if name in c:
                    missing = missing + np.isnan(c[name])
        out["N_MISSING"] = missing
        for name, (a, b) in _SAME_VALUE_PAIRS.items():
            if a in c and b in c:
                out[name] = _flag(c[a] == c[b], ~np.isnan(c[a]) & ~np.isnan(c[b]))
    return out


class ApplicationFeatures(TransformerMixin, BaseEstimator):
    """Raw typed applications in, model-ready columns out (a DataFrame; see :func:`feature_group`).

    Parameters
    ----------
    excluded:
        Input columns a lender may not use; dropped before anything is derived from them.
    drop_constant:
        Drop columns (inputs and derived) that hold a single value, or nothing, in training.
        Nothing can be learned about them, and other files do vary there (``FLAG_ACSP_RECORD``
        is always ``N`` in the modelling file), so keeping them would only let unseen values
        move scores.
    """

    def __init__(self, excluded: Sequence[str] = schema.DEFAULT_EXCLUDED, drop_constant: bool = True) -> None:
        self.excluded = excluded
        self.drop_constant = drop_constant

    def fit(self, X: pd.DataFrame, y: Any = None) -> ApplicationFeatures:
        columns = self._inputs(X)
        self.constant_columns_ = tuple(name for name, values in columns.items() if _n_distinct(values) <= 1)
        built = self._build(columns)
        keep = [name for name, values in built.items() if not self.drop_constant or _n_distinct(values) > 1]
        self.feature_names_out_ = np.asarray(keep, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_out_")
        built = self._build(self._inputs(X))
        return pd.DataFrame({name: _series(built[name], X.index) for name in self.feature_names_out_}, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    @property
    def informative_inputs(self) -> tuple[str, ...]:
        """The inputs that vary in training: the ones ``N_MISSING`` counts."""
        check_is_fitted(self, "feature_names_out_")
        return tuple(n for n in schema.FEATURE_NAMES if n not in self.excluded and n not in self.constant_columns_)

    def _inputs(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """The schema's allowed feature columns as arrays; an absent column reads as all-missing."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ApplicationFeatures needs a DataFrame with the schema's column names")
        excluded = set(self.excluded)
        columns: dict[str, np.ndarray] = {}
        for name in schema.FEATURE_NAMES:
            if name in excluded:
                continue
            values = X[name].to_numpy() if name in X.columns else np.full(len(X), None, dtype=object)
            columns[name] = _objects(values) if name in STRING_INPUTS else _floats(values)
        return columns

    def _build(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        columns = dict(inputs)
        for name in schema.TEXT_COLUMNS:
            if name in columns:
                columns[name] = np.array(
                    [None if v is None else normalize_text(v) for v in columns[name]], dtype=object
                )
        informative = [n for n in columns if n not in getattr(self, "constant_columns_", ())]
        derived = derived_features(_keyed(columns), yes=_YES_KEYS, informative=informative)
        for name in (*CODE_COLUMNS, *AREA_CODE_COLUMNS):
            if name in columns:
                columns[name] = np.array([None if v != v else code_text(v) for v in columns[name]], dtype=object)
        for name, parts in KEY_COMBINATIONS.items():
            if all(p in columns for p in parts):
                columns[name] = _combine_keys([columns[p] for p in parts])
        columns.update(derived)
        return columns


def code_text(value: float) -> str:
    """A numeric code as the text the encoders learn it by: 9.0 -> '9'."""
    return f"{value:g}"


# Keys of "Y" and "1" in :func:`_keyed`: every other string gets a key from 2 up.
_YES_KEYS = (0.0, 1.0)


def _keyed(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Text and codes as float keys, equal values equal keys across columns (see :func:`derived_features`)."""
    keys: dict[str, float] = {"Y": 0.0, "1": 1.0}
    out: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        if values.dtype != object:
            out[name] = values
            continue
        out[name] = np.array([np.nan if v is None else keys.setdefault(v, float(len(keys))) for v in values])
    return out


def _n_distinct(values: np.ndarray) -> int:
    return len({v for v in values.tolist() if not is_missing(v)})


def _flag(condition: np.ndarray, known: np.ndarray) -> np.ndarray:
    """1.0 / 0.0 where ``known`` (a mask, or values whose NaNs mark unknown), NaN elsewhere."""
    mask = known if known.dtype == bool else ~np.isnan(known)
    return np.where(mask, np.asarray(condition, dtype=float), np.nan)


def _count_yes(c: Mapping[str, np.ndarray], names: Sequence[str], yes: Sequence[float], n: int) -> np.ndarray:
    count = np.zeros(n)
    for name in names:
        if name in c:
            for key in yes:
                count += c[name] == key
    return count


def _series(values: np.ndarray, index: pd.Index) -> pd.Series:
    """Text stays object dtype with NaN for missing, however many values are missing.

    Left to itself pandas 3 makes a column with any text a string column (missing as NaN) but keeps
    an all-missing one as objects (missing as None): a single applicant with a gap would then reach
    the encoders with a value they never saw, and score differently alone than in a batch.
    """
    if values.dtype != object:
        return pd.Series(values, index=index)
    cleaned = values.copy()
    cleaned[pd.isna(values)] = np.nan
    return pd.Series(cleaned, index=index, dtype=object)


def _combine_keys(parts: list[np.ndarray]) -> np.ndarray:
    """'SP|SAO PAULO'; None when every part is missing."""
    return np.array(
        [
            None if all(v is None for v in row) else "|".join("" if v is None else v for v in row)
            for row in zip(*parts, strict=True)
        ],
        dtype=object,
    )


# -- encoders --------------------------------------------------------------------------------------


class KeyCodes(_FittedColumns, TransformerMixin, BaseEstimator):
    """Each training value as an integer code (float), NaN for missing, -1 for a value unseen in fit.

    Placed before ``TargetEncoder`` it keeps single-row scoring fast, and -1, never seen by the
    target encoder either, falls back to the overall rate.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # codes and text are what it encodes
        return tags

    def fit(self, X: Any, y: Any = None) -> KeyCodes:
        X = self._start_fit(X)
        self.vocabulary_ = {}
        for column in X.columns:
            seen = {v for v in X[column].tolist() if not is_missing(v)}
            self.vocabulary_[column] = {value: float(i) for i, value in enumerate(sorted(seen, key=str))}
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        X = self._columns_of(X)
        out = np.empty(X.shape, dtype=float)
        for j, column in enumerate(self.feature_names_in_):
            codes = self.vocabulary_[column]
            out[:, j] = [np.nan if is_missing(v) else codes.get(v, -1.0) for v in X[column].tolist()]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        return self.feature_names_in_.copy()


class FrequencyEncoder(_FittedColumns, TransformerMixin, BaseEstimator):
    """Share of training rows holding each value; an unseen value counts as rarer than any seen.

    Parameters
    ----------
    log:
        Output ``log10`` of the share (spreads out the long tail of rare values, which matters for
        linear models and networks; trees do not care).
    """

    def __init__(self, log: bool = True) -> None:
        self.log = log

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # codes and text are what it encodes
        return tags

    def fit(self, X: Any, y: Any = None) -> FrequencyEncoder:
        X = self._start_fit(X)
        n = max(len(X), 1)
        self.unseen_share_ = 1.0 / (n + 1)
        self.shares_: dict[str, dict[str, float]] = {}  # column -> its text value -> share
        self.missing_shares_: dict[str, float] = {}
        for column in X.columns:
            values = X[column].tolist()
            present = [v for v in values if not is_missing(v)]
            counts = pd.Series(present, dtype=object).value_counts() if present else pd.Series(dtype=float)
            self.shares_[column] = cast("dict[str, float]", (counts / n).to_dict())
            self.missing_shares_[column] = max(len(values) - len(present), 1) / n
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "shares_")
        X = self._columns_of(X)
        out = np.empty(X.shape, dtype=float)
        for j, column in enumerate(self.feature_names_in_):
            shares, missing = self.shares_[column], self.missing_shares_[column]
            out[:, j] = [missing if is_missing(v) else shares.get(v, self.unseen_share_) for v in X[column].tolist()]
        return np.log10(out) if self.log else out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "shares_")
        return np.asarray([f"{c}_FREQ" for c in self.feature_names_in_], dtype=object)


class QuantileBins(_FittedColumns, TransformerMixin, BaseEstimator):
    """Numeric columns as one-hot quantile bins plus a missing indicator: a scorecard's coarse classes.

    Bins come from the training quantiles with ties merged (many columns are mostly zero), so a
    column with three values gets at most three bins; bins and missing indicators that no
    training row falls in are left out, so such a row scores as all zeros.

    Parameters
    ----------
    n_bins:
        Number of quantile bins before ties are merged.
    """

    def __init__(self, n_bins: int = 8) -> None:
        self.n_bins = n_bins

    def fit(self, X: Any, y: Any = None) -> QuantileBins:
        X = self._start_fit(X)
        self.edges_, self.kept_, names = {}, {}, []
        for column in self.feature_names_in_:
            values = _floats(X[column].to_numpy())
            known = values[~np.isnan(values)]
            inner = np.linspace(0, 1, self.n_bins + 1)[1:-1]
            edges = np.unique(np.quantile(known, inner)) if len(known) else np.array([])
            indicators = self._indicators(values, edges)
            kept = np.flatnonzero(indicators.any(axis=0))
            self.edges_[column], self.kept_[column] = edges, kept
            names += [f"{column}_missing" if k == len(edges) + 1 else f"{column}_bin{k}" for k in kept]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "edges_")
        X = self._columns_of(X)
        blocks = []
        for column in self.feature_names_in_:
            values = _floats(X[column].to_numpy())
            blocks.append(self._indicators(values, self.edges_[column])[:, self.kept_[column]])
        return np.hstack(blocks) if blocks else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    @staticmethod
    def _indicators(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
        """Columns: bin 0 .. bin len(edges), then missing."""
        missing = np.isnan(values)
        position = np.where(missing, len(edges) + 1, np.searchsorted(edges, np.nan_to_num(values), side="right"))
        return (position[:, None] == np.arange(len(edges) + 2)[None, :]).astype(float)


def quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """The inner quantile cut points of the present values, ties merged (many columns are mostly zero)."""
    known = values[~np.isnan(values)]
    inner = np.linspace(0, 1, n_bins + 1)[1:-1]
    return np.unique(np.quantile(known, inner)) if len(known) else np.array([])


def quantile_codes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin (edges at or below it), -1 for missing."""
    return np.where(np.isnan(values), -1.0, np.searchsorted(edges, np.nan_to_num(values), side="right"))


class QuantileCodes(_FittedColumns, TransformerMixin, BaseEstimator):
    """Numeric columns as the index of their training quantile bin (float), -1 for missing.

    Followed by ``TargetEncoder`` this is a weight-of-evidence coding: each bin becomes the
    (cross-fitted, shrunk) bad rate of its training rows, so a logistic regression needs one
    coefficient per feature instead of one per bin, and is steadier for it. A bin or a missing
    value no training row had is a code the target encoder never saw: the overall rate.

    Parameters
    ----------
    n_bins:
        Number of quantile bins before ties are merged.
    """

    def __init__(self, n_bins: int = 20) -> None:
        self.n_bins = n_bins

    def fit(self, X: Any, y: Any = None) -> QuantileCodes:
        X = self._start_fit(X)
        self.edges_ = {c: quantile_edges(_floats(X[c].to_numpy()), self.n_bins) for c in self.feature_names_in_}
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "edges_")
        X = self._columns_of(X)
        out = np.empty(X.shape, dtype=float)
        for j, column in enumerate(self.feature_names_in_):
            out[:, j] = quantile_codes(_floats(X[column].to_numpy()), self.edges_[column])
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "edges_")
        return self.feature_names_in_.copy()
