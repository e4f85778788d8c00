"""The compiled scorer: a fitted candidate pipeline turned into lookup tables, a dot product and trees.

A scikit-learn pipeline costs tens of milliseconds a call whatever the row count (each step checks
and converts its input; ``TargetEncoder`` rebuilds its tables), so one applicant cost about 31 ms
and every reason another call. :func:`compile_pipeline` reads the fitted pieces once and keeps only
what scoring needs:

* every code and text value seen in training gets an integer key (one vocabulary for all inputs,
  so "same city at home and at work" is a comparison of keys); a value never seen gets a fresh key
  of its own, which every table treats as the pipeline treats an unseen value;
* the derived features come from :func:`ml.features.derived_features`, the very function the
  pipeline uses;
* each encoder (``KeyCodes`` + ``TargetEncoder``, ``FrequencyEncoder``, ``QuantileCodes``,
  :class:`~ml.estimators.MonotoneRates`) becomes one array per feature, indexed by a value's
  position among the values its column saw, with a slot for "unseen" and one for "missing";
* the scorecard is a sum of those tables' standardised, weighted shares, the boosting its LightGBM
  booster (LightGBM's own compiled predictor), the soft vote a weighted mean, the Platt calibration
  its formula.

It scores whole frames or one applicant's validated fields, in one vectorised pass, and equals the
pipeline to within 1e-9 (``ml/tests/test_scorer.py`` checks every development row and generated edge
rows). :meth:`CompiledScorer.encode` and :meth:`CompiledScorer.probability_of` are split so that
reasons (:mod:`ml.reasons`) can substitute inputs on the encoded rows without encoding text again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler, TargetEncoder

from ml import schema
from ml.estimators import BoundedLogisticRegression, MonotoneBoosting, MonotoneRates
from ml.features import (
    AREA_CODE_COLUMNS,
    CODE_COLUMNS,
    KEY_COMBINATIONS,
    STRING_INPUTS,
    ApplicationFeatures,
    FrequencyEncoder,
    KeyCodes,
    QuantileCodes,
    code_text,
    derived_features,
    normalize_text,
)

# Keys of "Y" and "1": derived_features counts flags by them.
_YES = ("Y", "1")
_TEXT = frozenset(schema.TEXT_COLUMNS)
_CODES = frozenset((*CODE_COLUMNS, *AREA_CODE_COLUMNS))
_PAIR_BASE = 1 << 31  # combination keys: (first + 1) * base + (second + 1); keys stay below 2**31
_FEW = 64  # fewer rows than this: a plain loop beats pandas' factorize, a broadcast beats searchsorted


class NotCompilableError(TypeError):
    """The fitted model holds a step the compiler does not know; it cannot be served compiled."""


# -- encoded rows --------------------------------------------------------------------------------


@dataclass
class Encoded:
    """Rows as the scorer reads them: one float matrix, a column an input (``names``), numbers as
    numbers and codes and text as keys (NaN missing).

    Keys at or above the vocabulary's size are values the model never saw (numbered per call, so
    equal unseen values share a key). One matrix, so that reasons substitute inputs, compare rows
    with the reference and stack copies in single operations.
    """

    matrix: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.matrix)

    @property
    def inputs(self) -> dict[str, np.ndarray]:
        return {name: self.matrix[:, j] for j, name in enumerate(self.names)}

    @staticmethod
    def concat(parts: Sequence[Encoded]) -> Encoded:
        return Encoded(np.vstack([p.matrix for p in parts]), parts[0].names)


# -- compiled pieces -----------------------------------------------------------------------------


@dataclass
class _Member:
    """One model of the ensemble: its encoded columns, then a linear model or a LightGBM booster.

    The encoded columns are built with two gathers: ``table_columns`` from one flat array of every
    table (``offsets`` + a source's position), ``numeric_columns`` straight from numeric features.
    """

    width: int
    table_columns: np.ndarray  # positions in the member's matrix
    table_sources: np.ndarray  # their source's index in CompiledScorer.sources
    offsets: np.ndarray  # where each table starts in ``tables``
    tables: np.ndarray
    numeric_columns: np.ndarray
    numeric_sources: tuple[str, ...]
    kind: str  # "linear" or "boosting"
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    coef: np.ndarray | None = None
    intercept: float = 0.0
    booster_text: str = ""
    _booster: Any = field(default=None, repr=False, compare=False)  # built from booster_text when first used
    _shares: np.ndarray | None = field(default=None, repr=False, compare=False)  # the same, for the scorecard

    def booster(self) -> lightgbm.Booster:
        if self._booster is None:
            self._booster = lightgbm.Booster(model_str=self.booster_text)
        return self._booster

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_booster": None, "_shares": None}

    def _contributions(self) -> np.ndarray:
        """Each table entry's share of the scorecard's decision value: standardised and weighted."""
        if self._shares is None:
            assert self.mean is not None and self.scale is not None and self.coef is not None
            lengths = np.diff([*self.offsets, len(self.tables)])
            column = self.table_columns[np.repeat(np.arange(len(self.offsets)), lengths)]
            self._shares = (self.tables - self.mean[column]) / self.scale[column] * self.coef[column]
        return self._shares

    def response(self, positions: np.ndarray, numbers: Mapping[str, np.ndarray]) -> np.ndarray:
        """The member's probability (boosting) or decision value (linear) of every row."""
        if self.kind == "linear" and not len(self.numeric_columns):
            # A scorecard of tables only: each table holds its column's share of the decision
            # value (standardised and weighted), so the value is a sum of look-ups.
            return self._contributions()[positions[:, self.table_sources] + self.offsets].sum(axis=1) + self.intercept
        matrix = np.empty((len(positions), self.width))
        matrix[:, self.table_columns] = self.tables[positions[:, self.table_sources] + self.offsets]
        for j, name in zip(self.numeric_columns, self.numeric_sources, strict=True):
            matrix[:, j] = numbers[name]
        if self.kind == "boosting":
            return np.asarray(self.booster().predict(matrix, num_threads=1))
        assert self.mean is not None and self.scale is not None and self.coef is not None
        return ((matrix - self.mean) / self.scale) @ self.coef + self.intercept


@dataclass
class _Source:
    """What a table is indexed by: a key feature's position among its known keys, or a number's bin.

    Positions run 0..k-1 for the k known keys (or bins), k for an unseen key, k+1 for missing.
    """

    feature: str
    known: np.ndarray | None = None  # sorted keys
    edges: np.ndarray | None = None  # bin edges (searchsorted right, as QuantileCodes)

    @property
    def size(self) -> int:
        return len(self.edges) + 1 if self.edges is not None else len(self.known)  # type: ignore[arg-type]

    def positions(self, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        if self.edges is not None:
            # NaN sorts after every edge; it is then moved to the missing slot.
            return np.where(missing, self.size + 1, np.searchsorted(self.edges, values, side="right"))
        assert self.known is not None
        whole = np.where(missing, -1, values).astype(np.int64)
        pos = np.searchsorted(self.known, whole)
        found = self.known[np.minimum(pos, len(self.known) - 1)] == whole if len(self.known) else pos < 0
        return np.where(missing, self.size + 1, np.where(found & (pos < self.size), pos, self.size))


class _DenseKeys:
    """Positions of every plain key source at once: one table row per source, indexed by key.

    Keys of codes and text run from 0 to the vocabulary's size; a larger key (a value never seen)
    reads the last column, which holds each source's "unseen" position, and missing its own.
    """

    def __init__(self, sources: Sequence[_Source], indices: Sequence[int], vocabulary_size: int) -> None:
        self.indices = np.asarray(indices, dtype=np.intp)
        self.features = tuple(sources[i].feature for i in indices)
        self.width = vocabulary_size + 2  # keys, then unseen, then missing
        table = np.empty((len(indices), self.width), dtype=np.int32)
        for row, i in enumerate(indices):
            source = sources[i]
            assert source.known is not None
            table[row, :] = source.size  # unseen
            table[row, source.known] = np.arange(source.size)
            table[row, -1] = source.size + 1
        self.table = table.ravel()
        self.offsets = (np.arange(len(indices)) * self.width)[None, :]

    def positions(self, features: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        keys = np.empty((n, len(self.features)))
        for j, name in enumerate(self.features):
            keys[:, j] = features[name]
        missing = np.isnan(keys)
        index = np.where(missing, self.width - 1, np.minimum(np.where(missing, 0, keys), self.width - 2))
        return self.table[index.astype(np.intp) + self.offsets]


class _Bins:
    """Bins of every binned source at once (a number's count of edges at or below it, as
    ``searchsorted(side="right")``); missing in the last slot."""

    def __init__(self, sources: Sequence[_Source], indices: Sequence[int]) -> None:
        self.indices = np.asarray(indices, dtype=np.intp)
        self.features = tuple(sources[i].feature for i in indices)
        self.edges = [np.asarray(sources[i].edges) for i in indices]
        width = max((len(e) for e in self.edges), default=0)
        self.padded = np.full((len(indices), width), np.inf)
        for row, edges in enumerate(self.edges):
            self.padded[row, : len(edges)] = edges
        self.missing = np.array([len(e) + 2 for e in self.edges], dtype=np.intp)  # size + 1

    def positions(self, features: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        values = np.empty((n, len(self.features)))
        for j, name in enumerate(self.features):
            values[:, j] = features[name]
        if n <= _FEW:  # one broadcast comparison beats a searchsorted a column
            bins = (values[:, :, None] >= self.padded[None, :, :]).sum(axis=2)
        else:
            bins = np.empty(values.shape, dtype=np.intp)
            for j, edges in enumerate(self.edges):
                bins[:, j] = np.searchsorted(edges, values[:, j], side="right")
        return np.where(np.isnan(values), self.missing[None, :], bins)


class _CodeKeys:
    """Numeric codes as vocabulary keys through one table (codes are whole numbers 0-999)."""

    LIMIT = 1000

    def __init__(self, code_values: Mapping[str, tuple[np.ndarray, np.ndarray]], size: int) -> None:
        self.features = tuple(code_values)
        self.size = size
        self.table = np.full((len(self.features), self.LIMIT), np.nan)
        for row, (numbers, keys) in enumerate(code_values.values()):
            inside = (numbers >= 0) & (numbers < self.LIMIT) & (numbers == np.floor(numbers))
            self.table[row, numbers[inside].astype(np.intp)] = keys[inside]
        self.offsets = (np.arange(len(self.features)) * self.LIMIT)[None, :]

    def keys(self, inputs: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        values = np.empty((n, len(self.features)))
        for j, name in enumerate(self.features):
            values[:, j] = inputs[name]
        missing = np.isnan(values)
        clean = np.where(missing, 0.0, values)
        whole = (clean >= 0) & (clean < self.LIMIT) & (clean == np.floor(clean))
        found = self.table.ravel()[np.where(whole, clean, 0).astype(np.intp) + self.offsets]
        # An unseen code: a key past every table, the same for the same number.
        fresh = self.size + 1_000_000 + clean
        keys = np.where(missing, np.nan, np.where(whole & ~np.isnan(found), found, fresh))
        return {name: keys[:, j] for j, name in enumerate(self.features)}


@dataclass
class CompiledScorer:
    """Probability of default of applications, as the fitted pipeline computes it, without scikit-learn."""

    inputs: tuple[str, ...]  # input columns the model reads (excluded ones left out)
    vocabulary: dict[str, int]  # every code and text value seen in training -> key
    code_values: dict[str, tuple[np.ndarray, np.ndarray]]  # code column -> (sorted numbers, their keys)
    informative: tuple[str, ...]
    sources: list[_Source]
    combinations: dict[str, tuple[str, str]]
    members: list[_Member]
    weights: np.ndarray
    calibration: tuple[str, float, float]  # ("probability" | "decision", a, b): p = expit(-(a * t + b))
    excluded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """The lookup structures derived from the fields above: built on load, never pickled."""
        size = len(self.vocabulary)
        plain = [i for i, s in enumerate(self.sources) if s.known is not None and s.feature not in self.combinations]
        self._dense = _DenseKeys(self.sources, plain, size)
        self._bins = _Bins(self.sources, [i for i, s in enumerate(self.sources) if s.edges is not None])
        self._codes = _CodeKeys({k: v for k, v in self.code_values.items() if k in self.inputs}, size)
        self._others = [i for i, s in enumerate(self.sources) if i not in set(plain) and s.edges is None]
        self._informative = [j for j, name in enumerate(self.inputs) if name in set(self.informative)]
        self._references: dict[str, Encoded | None] = {}  # encode_known's

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k in {f.name for f in fields(self)}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    # -- public ---------------------------------------------------------------------------------

    def predict_proba(self, applications: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """``[[p_good, p_bad], ...]``, as the pipeline's ``predict_proba``."""
        bad = self.probability_bad(applications)
        return np.column_stack([1 - bad, bad])

    def probability_bad(self, applications: pd.DataFrame | Mapping[str, Any]) -> np.ndarray:
        """Probability of default of each row of a typed frame, or of one applicant's fields (a dict)."""
        return self.probability_of(self.encode(applications))

    def encode(
        self, applications: pd.DataFrame | Mapping[str, Any], *, unseen: dict[str, int] | None = None
    ) -> Encoded:
        """Rows as keys and numbers: the only step that touches text, done once a row.

        Values never seen in training are numbered in ``unseen``: pass the same dict to encode
        two sets of rows whose unseen values must compare equal (rows and their reference).
        """
        frame, n = _as_columns(applications)
        unseen = {} if unseen is None else unseen
        matrix = np.empty((n, len(self.inputs)))
        for j, name in enumerate(self.inputs):
            values = frame.get(name)
            if values is None:
                matrix[:, j] = np.nan
            elif name in STRING_INPUTS:
                matrix[:, j] = self._keys(values, name in _TEXT, unseen)
            else:
                matrix[:, j] = _numbers(values)
        return Encoded(matrix, self.inputs)

    def encode_known(self, applicant: Mapping[str, Any]) -> Encoded | None:
        """:meth:`encode` of one applicant whose values were all seen in training (a reference
        applicant), kept for the next call; None if one was not (then encode it with the rows)."""
        key = json.dumps(applicant, sort_keys=True, default=str)
        cache = self._references
        if key not in cache:
            encoded = self.encode(applicant)
            size = len(self.vocabulary)
            strings = [j for j, name in enumerate(self.inputs) if name in STRING_INPUTS]
            known = not (encoded.matrix[:, strings] >= size).any()
            if len(cache) > 16:
                cache.clear()
            cache[key] = encoded if known else None
        return cache[key]

    def probability_of(self, encoded: Encoded) -> np.ndarray:
        """Probability of default of encoded rows (see :meth:`encode`)."""
        n = len(encoded)
        if n == 0:
            return np.empty(0)
        features = self._features(encoded)
        positions = np.empty((n, len(self.sources)), dtype=np.intp)
        assert self._dense is not None
        positions[:, self._dense.indices] = self._dense.positions(features, n)
        positions[:, self._bins.indices] = self._bins.positions(features, n)
        for s in self._others:
            positions[:, s] = self.sources[s].positions(features[self.sources[s].feature])
        responses = [member.response(positions, features) for member in self.members]
        if self.calibration[0] == "decision":
            response = responses[0]
        else:
            probabilities = [
                expit(r) if m.kind == "linear" else r for r, m in zip(responses, self.members, strict=True)
            ]
            # The soft vote, as VotingClassifier's np.average: the weighted sum over the weights' sum.
            response = sum(w * p for w, p in zip(self.weights, probabilities, strict=True)) / self.weights.sum()
        _, a, b = self.calibration
        return expit(-(a * response + b))

    # -- internals ------------------------------------------------------------------------------

    def _keys(self, values: Any, is_text: bool, unseen: dict[str, int]) -> np.ndarray:
        """Keys of one column's values: each distinct value is normalised and looked up once."""
        size = len(self.vocabulary)
        if len(values) <= _FEW:
            return np.array([self._key(v, is_text, unseen, size) for v in values], dtype=float)
        codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
        keys = np.empty(len(uniques) + 1)
        keys[-1] = np.nan  # code -1: missing
        for i, value in enumerate(uniques):
            text = normalize_text(value) if is_text else value
            if text is None:
                keys[i] = np.nan
                continue
            key = self.vocabulary.get(text)
            keys[i] = key if key is not None else size + unseen.setdefault(text, len(unseen))
        return keys[codes]

    def _key(self, value: Any, is_text: bool, unseen: dict[str, int], size: int) -> float:
        if value is None or value != value:
            return np.nan
        text = normalize_text(value) if is_text else value
        if text is None:
            return np.nan
        key = self.vocabulary.get(text)
        return key if key is not None else size + unseen.setdefault(text, len(unseen))

    def _features(self, encoded: Encoded) -> dict[str, np.ndarray]:
        inputs = encoded.inputs
        yes = [float(self.vocabulary[v]) for v in _YES]
        features = dict(inputs)
        missing = np.isnan(encoded.matrix[:, self._informative]).sum(axis=1).astype(float)
        features.update(derived_features(inputs, yes=yes, informative=self.informative, missing=missing))
        features.update(self._codes.keys(inputs, len(encoded)))
        for name, (first, second) in self.combinations.items():
            features[name] = _pair_keys(features[first], features[second])
        return features


def _as_columns(applications: pd.DataFrame | Mapping[str, Any]) -> tuple[Mapping[str, Any], int]:
    if isinstance(applications, pd.DataFrame):
        return {name: applications[name].to_numpy() for name in applications.columns}, len(applications)
    return {name: [value] for name, value in applications.items()}, 1


def _numbers(values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind == "f":
        return array.astype(float, copy=False)
    return np.array([np.nan if v is None or v != v else float(v) for v in array.tolist()], dtype=float)


def _pair_keys(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    both_missing = np.isnan(first) & np.isnan(second)
    a = np.where(np.isnan(first), -1, first) + 1
    b = np.where(np.isnan(second), -1, second) + 1
    return np.where(both_missing, np.nan, a * _PAIR_BASE + b)


# -- compiling -----------------------------------------------------------------------------------


def compile_pipeline(model: Any) -> CompiledScorer:
    """The lean scorer of a fitted model from :mod:`ml.training` (NotCompilableError otherwise)."""
    candidate, calibration = _unwrap_calibration(model)
    if not isinstance(candidate, Pipeline) or not isinstance(candidate.steps[0][1], ApplicationFeatures):
        raise NotCompilableError("the model does not start with ApplicationFeatures")
    features: ApplicationFeatures = candidate.steps[0][1]
    final = candidate.steps[-1][1]
    if isinstance(final, VotingClassifier):
        if final.voting != "soft":
            raise NotCompilableError("only soft voting compiles")
        members = list(final.estimators_)
        weights = np.asarray(final.weights if final.weights is not None else [1.0] * len(members), dtype=float)
    else:
        members, weights = [Pipeline(candidate.steps[1:])], np.ones(1)
    builder = _Builder(features)
    compiled = [builder.member(m) for m in members]
    response = "decision" if hasattr(candidate, "decision_function") else "probability"
    if response == "decision" and len(compiled) != 1:
        raise NotCompilableError("a calibrated ensemble with a decision function does not compile")
    return CompiledScorer(
        inputs=builder.inputs,
        vocabulary=builder.vocabulary,
        code_values=builder.code_values(),
        informative=features.informative_inputs,
        sources=builder.sources,
        combinations={n: p for n, p in KEY_COMBINATIONS.items() if n in builder.used},  # type: ignore[misc]
        members=compiled,
        weights=weights,
        calibration=(response, *calibration),
        excluded=tuple(features.excluded),
    )


def _unwrap_calibration(model: Any) -> tuple[Any, tuple[float, float]]:
    if isinstance(model, Pipeline) and len(model.steps) == 1:
        model = model.steps[0][1]
    if not isinstance(model, CalibratedClassifierCV) or model.method != "sigmoid":
        raise NotCompilableError("the model is not a sigmoid-calibrated classifier")
    if len(model.calibrated_classifiers_) != 1:
        raise NotCompilableError("only ensemble=False calibration compiles")
    calibrated = model.calibrated_classifiers_[0]
    (calibrator,) = calibrated.calibrators
    return calibrated.estimator, (float(calibrator.a_), float(calibrator.b_))


@dataclass
class _Column:
    """One output column of a member's encoding while it is being built."""

    source: str  # a key feature or a numeric feature
    table: np.ndarray | None = None  # over the source's positions (unseen, missing last)
    edges: np.ndarray | None = None  # for a binned number


class _Builder:
    """Collects the vocabulary, the sources and the tables while walking the members."""

    def __init__(self, features: ApplicationFeatures) -> None:
        self.features = features
        self.inputs = tuple(n for n in schema.FEATURE_NAMES if n not in set(features.excluded))
        self.vocabulary: dict[str, int] = {v: i for i, v in enumerate(_YES)}
        self.sources: list[_Source] = []
        self.used: set[str] = set()
        self._codes: dict[str, set[str]] = {}
        self._known: dict[str, np.ndarray] = {}

    def key(self, value: str) -> int:
        return self.vocabulary.setdefault(value, len(self.vocabulary))

    def code_values(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for name, texts in self._codes.items():
            numbers = np.array(sorted(float(t) for t in texts))
            out[name] = (numbers, np.array([self.vocabulary[code_text(v)] for v in numbers], dtype=float))
        return out

    def member(self, pipeline: Pipeline) -> _Member:
        if len(pipeline.steps) != 2:
            raise NotCompilableError("a member must be an encoding and a model")
        encode, model = pipeline.steps[0][1], pipeline.steps[-1][1]
        scaler = None
        if isinstance(encode, Pipeline):
            if len(encode.steps) != 2 or not isinstance(encode.steps[1][1], StandardScaler):
                raise NotCompilableError("an encoding pipeline must be a ColumnTransformer and a StandardScaler")
            encode, scaler = encode.steps[0][1], encode.steps[1][1]
        if not isinstance(encode, ColumnTransformer):
            raise NotCompilableError(f"cannot compile the encoding {type(encode).__name__}")
        plan = self._plan(self._transformers(encode))
        if isinstance(model, MonotoneBoosting):
            return _Member(**plan, kind="boosting", booster_text=model.booster_.model_to_string())
        if isinstance(model, (BoundedLogisticRegression, LogisticRegression)):
            width = plan["width"]
            mean = scaler.mean_ if scaler is not None else np.zeros(width)
            scale = scaler.scale_ if scaler is not None else np.ones(width)
            return _Member(
                **plan,
                kind="linear",
                mean=np.asarray(mean),
                scale=np.asarray(scale),
                coef=np.asarray(model.coef_[0], dtype=float),
                intercept=float(model.intercept_[0]),
            )
        raise NotCompilableError(f"cannot compile the model {type(model).__name__}")

    def _plan(self, columns: list[_Column]) -> dict[str, Any]:
        tabled = [j for j, c in enumerate(columns) if c.table is not None]
        numeric = [j for j, c in enumerate(columns) if c.table is None]
        tables = [table for j in tabled if (table := columns[j].table) is not None]
        offsets = np.cumsum([0] + [len(t) for t in tables[:-1]]).astype(np.intp)
        self.used.update(c.source for c in columns)
        return {
            "width": len(columns),
            "table_columns": np.array(tabled, dtype=np.intp),
            "table_sources": np.array([self._source(columns[j]) for j in tabled], dtype=np.intp),
            "offsets": offsets,
            "tables": np.concatenate(tables) if tables else np.empty(0),
            "numeric_columns": np.array(numeric, dtype=np.intp),
            "numeric_sources": tuple(columns[j].source for j in numeric),
        }

    def _source(self, column: _Column) -> int:
        for s, source in enumerate(self.sources):
            if source.feature == column.source:
                same_edges = (
                    source.edges is None
                    if column.edges is None
                    else (source.edges is not None and np.array_equal(source.edges, column.edges))
                )
                if same_edges:
                    return s
        if column.edges is not None:
            self.sources.append(_Source(column.source, edges=np.asarray(column.edges, dtype=float)))
        else:
            self.sources.append(_Source(column.source, known=self._known[column.source]))
        return len(self.sources) - 1

    def _transformers(self, encode: ColumnTransformer) -> list[_Column]:
        out: list[_Column] = []
        for name, transformer, _ in encode.transformers_:
            width = encode.output_indices_[name]
            if width.stop == width.start or (isinstance(transformer, str) and transformer == "drop"):
                continue
            out += self._transformer(transformer, encode, name)
        if len(out) != len(encode.get_feature_names_out()):
            raise NotCompilableError("the compiled encoding does not have the pipeline's width")
        return out

    def _transformer(self, transformer: Any, encode: ColumnTransformer, name: str) -> list[_Column]:
        if isinstance(transformer, str) or type(transformer).__name__ == "FunctionTransformer":
            if isinstance(transformer, str) and transformer != "passthrough":
                raise NotCompilableError(f"cannot compile the transformer {transformer!r}")
            return [_Column(str(c)) for c in encode.get_feature_names_out()[encode.output_indices_[name]]]
        steps = [s for _, s in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
        columns = [str(c) for c in steps[0].feature_names_in_]
        match steps:
            case [KeyCodes() as codes, TargetEncoder() as target]:
                return [
                    self._keyed(c, codes.vocabulary_[c], _through(codes.vocabulary_[c], _target_table(target, j)))
                    for j, c in enumerate(columns)
                ]
            case [KeyCodes() as codes]:
                return [self._keyed(c, codes.vocabulary_[c], _through(codes.vocabulary_[c], float)) for c in columns]
            case [FrequencyEncoder() as frequency]:
                return [
                    self._keyed(c, {v: 0.0 for v in frequency.shares_[c]}, _frequency_table(frequency, c))
                    for c in columns
                ]
            case [QuantileCodes() as bins, TargetEncoder() as target]:
                return [_binned(c, bins.edges_[c], _target_table(target, j)) for j, c in enumerate(columns)]
            case [MonotoneRates() as rates]:
                return [_rates(c, rates) for c in columns]
        raise NotCompilableError(f"cannot compile {' + '.join(type(s).__name__ for s in steps)}")

    def _keyed(self, column: str, vocabulary: Mapping[str, float], encode: Any) -> _Column:
        """A table over the column's training values (in key order), then unseen, then missing."""
        keys = {self._key_of(column, value): value for value in vocabulary}
        known = self._known.setdefault(column, np.array(sorted(keys), dtype=np.int64))
        if set(known.tolist()) != set(keys):
            raise NotCompilableError(f"two encoders of {column} saw different values")
        values = [encode(keys[k]) for k in known.tolist()]
        return _Column(column, table=np.array([*values, encode(_UNSEEN), encode(_MISSING)], dtype=float))

    def _key_of(self, column: str, value: str) -> int:
        if column in KEY_COMBINATIONS:
            first, second = KEY_COMBINATIONS[column]
            left, right = value.split("|", 1)
            a = self._key_of(first, left) if left else -1
            b = self._key_of(second, right) if right else -1
            return (a + 1) * _PAIR_BASE + (b + 1)
        if column in _CODES:
            self._codes.setdefault(column, set()).add(value)
        return self.key(value)


_UNSEEN, _MISSING = object(), object()


def _through(vocabulary: Mapping[str, float], encode_code: Any) -> Any:
    """value -> KeyCodes' code (-1 unseen, NaN missing) -> ``encode_code``."""

    def encode(value: Any) -> float:
        if value is _MISSING:
            return float(encode_code(np.nan))
        return float(encode_code(-1.0 if value is _UNSEEN else vocabulary[value]))

    return encode


def _target_table(target: TargetEncoder, j: int) -> Any:
    """KeyCodes' code (or a bin code) -> TargetEncoder's encoding, as its transform maps it."""
    categories, encodings = np.asarray(target.categories_[j], dtype=float), np.asarray(target.encodings_[j])
    by_code = {float(c): float(e) for c, e in zip(categories, encodings, strict=True) if not np.isnan(c)}
    missing = next((float(e) for c, e in zip(categories, encodings, strict=True) if np.isnan(c)), None)
    mean = float(target.target_mean_)

    def encode_code(code: float) -> float:
        if code != code:
            return missing if missing is not None else mean
        return by_code.get(float(code), mean)

    return encode_code


def _frequency_table(frequency: FrequencyEncoder, column: str) -> Any:
    shares, missing, unseen = frequency.shares_[column], frequency.missing_shares_[column], frequency.unseen_share_

    def encode(value: Any) -> float:
        share = missing if value is _MISSING else unseen if value is _UNSEEN else shares[value]
        return float(np.log10(share)) if frequency.log else float(share)

    return encode


def _binned(column: str, edges: np.ndarray, encode_code: Any) -> _Column:
    """QuantileCodes + TargetEncoder: a number's bin code (-1 missing) through the target encoding."""
    bins = [encode_code(float(code)) for code in range(len(edges) + 1)]
    return _Column(column, table=np.array([*bins, np.nan, encode_code(-1.0)]), edges=np.asarray(edges, dtype=float))


def _rates(column: str, rates: MonotoneRates) -> _Column:
    table = np.array([*rates.log_odds_[column], np.nan, rates.missing_log_odds_[column]])
    return _Column(column, table=table, edges=np.asarray(rates.edges_[column], dtype=float))
