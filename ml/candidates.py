"""Candidate models: each one a complete scikit-learn Pipeline from raw applications to a score.

Every pipeline takes the typed frame of :func:`ml.data.load_applications` (the schema's feature
columns; extra columns are ignored), drops the ``excluded`` columns itself and learns all of its
preprocessing inside ``fit``, so cross-validating it is honest. High-cardinality text (cities,
boroughs, zip prefixes, phone area codes) is target encoded with ``TargetEncoder``, which
cross-fits in ``fit_transform`` so a row's own label never feeds its own encoding.

Every candidate is monotone where a lender expects a direction (:data:`MONOTONE_INPUTS`), and
every one compiles to the lean scorer of :mod:`ml.scorer`. Random forests and a small neural
network were candidates before; they scored 0.009 and 0.016 below the best in CV, could not be
compiled cheaply, and the network cannot be made monotone, so they were dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler, TargetEncoder

from ml import schema
from ml.estimators import BoundedLogisticRegression, MonotoneBoosting, MonotoneRates, feature_directions
from ml.features import (
    DERIVED_FROM,
    LOW_CARDINALITY,
    ApplicationFeatures,
    ColumnGroup,
    FrequencyEncoder,
    KeyCodes,
    QuantileCodes,
)

HIGH = ColumnGroup("high_cardinality")
LOW = ColumnGroup("low_cardinality")

# The direction of risk a lender expects of an input, and the model keeps: -1, more of it never
# raises the predicted risk. Each derived feature follows its inputs (ml.features.DERIVED_FROM).
# Income is the one a reason must never get wrong ("your income is too high"); the others were
# kept where cross-validation showed no cost beyond noise (docs/modelling.md).
MONOTONE_INPUTS: dict[str, int] = {
    "PERSONAL_MONTHLY_INCOME": -1,
    "OTHER_INCOMES": -1,
    "PERSONAL_ASSETS_VALUE": -1,
    "MONTHS_IN_THE_JOB": -1,
    "MONTHS_IN_RESIDENCE": -1,
}


def _target_encoder(random_state: int, codes: bool = True) -> Pipeline | TargetEncoder:
    # smooth="auto" shrinks rare cities towards the overall rate (empirical Bayes); KeyCodes
    # first, because TargetEncoder is slow to look up strings one row at a time (``codes=False``
    # for inputs that are already numeric codes).
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)
    encoder = TargetEncoder(target_type="binary", smooth="auto", cv=folds)
    return make_pipeline(KeyCodes(), encoder) if codes else encoder


def _columns(*transformers: tuple) -> ColumnTransformer:
    # Columns are picked by feature group, so extra or excluded input columns simply drop out;
    # pandas out, so the final estimators know which column is which feature.
    return ColumnTransformer(list(transformers), remainder="drop", verbose_feature_names_out=False).set_output(
        transform="pandas"
    )


# -- candidates ------------------------------------------------------------------------------------


def _logistic_regression(excluded: Sequence[str], random_state: int, monotone: Mapping[str, int]) -> Pipeline:
    """Scorecard style: every feature as a weight of evidence, numeric ones by quantile bin.

    Numbers are cut into 20 quantile bins and codes and text kept as they are; each bin or value
    is then replaced by its cross-fitted, shrunk bad rate. One coefficient per feature, against
    one per bin for one-hot bins and codes: 0.643 / 0.644 CV AUC (seeds 42 / 7) against 0.640 /
    0.641, and a faster fit. Pairwise crosses of bins (age by payment day, by income...) only
    lowered it. Features with a direction get a monotone weight of evidence and a coefficient
    that cannot be negative, so the score moves with them only the expected way.
    """
    directions = feature_directions(monotone, DERIVED_FROM)
    free = ColumnGroup("numeric", exclude=tuple(directions))
    bounded = ColumnGroup("numeric", only=tuple(directions))
    encoded = make_pipeline(
        _columns(
            ("high", _target_encoder(random_state), HIGH),
            ("freq", FrequencyEncoder(log=True), HIGH),
            ("low", _target_encoder(random_state), LOW),
            ("num", make_pipeline(QuantileCodes(n_bins=20), _target_encoder(random_state, codes=False)), free),
            ("monotone", MonotoneRates(tuple(sorted(directions.items()))), bounded),
        ),
        StandardScaler().set_output(transform="pandas"),
    )
    model = BoundedLogisticRegression(C=1.0, nonnegative=tuple(sorted(directions)))
    return Pipeline([("features", ApplicationFeatures(excluded)), ("encode", encoded), ("model", model)])


def _gradient_boosting(excluded: Sequence[str], random_state: int, monotone: Mapping[str, int]) -> Pipeline:
    encode = _columns(
        ("high", _target_encoder(random_state), HIGH),
        ("freq", FrequencyEncoder(log=False), HIGH),
        # Codes as integers, split on as categories by LightGBM (0.6485 against 0.6478 as plain
        # numbers, in CV with 300 trees).
        ("low", KeyCodes(), LOW),
        ("num", "passthrough", ColumnGroup("numeric")),
    )
    # Small trees, a strong minimum leaf and half the features per split: the signal is weak
    # (AUC ~0.65) and deep trees only learn noise. 150 trees at a learning rate of 0.1 score as
    # well in CV as 300 at 0.05 (0.6480 against 0.6485) at half the cost of every prediction,
    # and every reason is one more prediction.
    directions = feature_directions(monotone, DERIVED_FROM)
    model = MonotoneBoosting(
        monotone=tuple(sorted(directions.items())),
        categorical=LOW_CARDINALITY,
        learning_rate=0.1,
        n_estimators=150,
        random_state=random_state,
    )
    return Pipeline([("features", ApplicationFeatures(excluded)), ("encode", encode), ("model", model)])


def _soft_voting(excluded: Sequence[str], random_state: int, monotone: Mapping[str, int]) -> Pipeline:
    """Average of the boosting and scorecard probabilities: different errors, a steadier score."""
    members = [
        (name, Pipeline(_BUILDERS[name](excluded, random_state, monotone).steps[1:]))  # features shared below
        for name in ("gradient_boosting", "logistic_regression")
    ]
    model = VotingClassifier(members, voting="soft", weights=[2, 1])
    return Pipeline([("features", ApplicationFeatures(excluded)), ("model", model)])


Builder = Callable[[Sequence[str], int, Mapping[str, int]], Pipeline]
_BUILDERS: dict[str, Builder] = {
    "logistic_regression": _logistic_regression,
    "gradient_boosting": _gradient_boosting,
}
_BUILDERS["soft_voting"] = _soft_voting  # built from the others, so added after them

CANDIDATE_NAMES: tuple[str, ...] = tuple(_BUILDERS)
# What the full comparison chooses on the shared data (docs/model_card.md: 0.6480 CV ROC AUC against
# 0.6454 for gradient_boosting and 0.6423 for logistic_regression): a first start trains only this.
DEFAULT_CANDIDATE = "soft_voting"


def make_candidate(
    name: str,
    *,
    excluded: Sequence[str] = schema.DEFAULT_EXCLUDED,
    random_state: int = 0,
    monotone: Mapping[str, int] | None = None,
) -> Pipeline:
    """A fresh, unfitted pipeline for the candidate ``name`` (one of :data:`CANDIDATE_NAMES`).

    ``monotone``: each input's expected direction of risk (default :data:`MONOTONE_INPUTS`).
    """
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown candidate {name!r}; choose from {', '.join(CANDIDATE_NAMES)}") from None
    directions = MONOTONE_INPUTS if monotone is None else monotone
    return builder(tuple(excluded), random_state, {k: v for k, v in directions.items() if k not in excluded})
