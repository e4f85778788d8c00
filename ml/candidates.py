"""Candidate models: each one a complete scikit-learn Pipeline from raw applications to a score.

Every pipeline takes the typed frame of :func:`ml.data.load_applications` (the schema's feature
columns; extra columns are ignored), drops the ``excluded`` columns itself and learns all of its
preprocessing inside ``fit``, so cross-validating it is honest. High-cardinality text (cities,
boroughs, zip prefixes, phone area codes) is target encoded with ``TargetEncoder``, which
cross-fits in ``fit_transform`` so a row's own label never feeds its own encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, VotingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from ml import schema
from ml.features import ApplicationFeatures, ColumnGroup, FrequencyEncoder, KeyCodes, QuantileCodes

HIGH = ColumnGroup("high_cardinality")
LOW = ColumnGroup("low_cardinality")
NUMERIC = ColumnGroup("numeric")


def _target_encoder(random_state: int, codes: bool = True) -> Pipeline | TargetEncoder:
    # smooth="auto" shrinks rare cities towards the overall rate (empirical Bayes); KeyCodes
    # first, because TargetEncoder is slow to look up strings one row at a time (``codes=False``
    # for inputs that are already numeric codes).
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=random_state)
    encoder = TargetEncoder(target_type="binary", smooth="auto", cv=folds)
    return make_pipeline(KeyCodes(), encoder) if codes else encoder


def _one_hot(min_frequency: int = 20) -> OneHotEncoder:
    # Rare codes share one column; codes never seen in training score as all-zero.
    return OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_frequency, sparse_output=False)


def _columns(*transformers: tuple) -> ColumnTransformer:
    # Columns are picked by feature group, so extra or excluded input columns simply drop out.
    return ColumnTransformer(list(transformers), remainder="drop", verbose_feature_names_out=False)


# -- candidates ------------------------------------------------------------------------------------


def _logistic_regression(excluded: Sequence[str], random_state: int) -> Pipeline:
    """Scorecard style: every feature as a weight of evidence, numeric ones by quantile bin.

    Numbers are cut into 20 quantile bins and codes and text kept as they are; each bin or value
    is then replaced by its cross-fitted, shrunk bad rate. One coefficient per feature, against
    one per bin for one-hot bins and codes: 0.643 / 0.644 CV AUC (seeds 42 / 7) against 0.640 /
    0.641, and a faster fit. Pairwise crosses of bins (age by payment day, by income...) only
    lowered it.
    """
    encoded = make_pipeline(
        _columns(
            ("high", _target_encoder(random_state), HIGH),
            ("freq", FrequencyEncoder(log=True), HIGH),
            ("low", _target_encoder(random_state), LOW),
            ("num", make_pipeline(QuantileCodes(n_bins=20), _target_encoder(random_state, codes=False)), NUMERIC),
        ),
        StandardScaler(),
    )
    model = LogisticRegression(C=1.0, max_iter=2000)
    return Pipeline([("features", ApplicationFeatures(excluded)), ("encode", encoded), ("model", model)])


def _hist_gradient_boosting(excluded: Sequence[str], random_state: int) -> Pipeline:
    encode = _columns(
        ("high", _target_encoder(random_state), HIGH),
        ("freq", FrequencyEncoder(log=False), HIGH),
        # Codes as plain numbers, not native categories: within noise in CV (0.648 against
        # 0.650), and HGB's pandas-category path re-encodes on every call (+10 ms a row).
        ("low", KeyCodes(), LOW),
        ("num", "passthrough", NUMERIC),
    )
    # Small trees, a strong minimum leaf and half the features per split: the signal is weak
    # (AUC ~0.65) and deep trees only learn noise. 300 trees keep single-row scoring fast.
    model = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=300,
        max_leaf_nodes=7,
        min_samples_leaf=200,
        max_features=0.5,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )
    return Pipeline([("features", ApplicationFeatures(excluded)), ("encode", encode), ("model", model)])


def _random_forest(excluded: Sequence[str], random_state: int) -> Pipeline:
    # Forests have no native categories: codes are target encoded too (their order then means
    # something). Half-size bootstrap samples and large leaves keep it fast and smooth.
    encode = _columns(
        ("high", _target_encoder(random_state), HIGH),
        ("freq", FrequencyEncoder(log=False), HIGH),
        ("low", _target_encoder(random_state), LOW),
        ("num", "passthrough", NUMERIC),
    )
    model = RandomForestClassifier(
        n_estimators=150,
        min_samples_leaf=30,
        max_features=0.3,
        max_samples=0.4,
        n_jobs=1,
        random_state=random_state,
    )
    return Pipeline([("features", ApplicationFeatures(excluded)), ("encode", encode), ("model", model)])


def _mlp(excluded: Sequence[str], random_state: int) -> Pipeline:
    numeric = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
    )
    encode = make_pipeline(
        _columns(
            ("high", _target_encoder(random_state), HIGH),
            ("freq", FrequencyEncoder(log=True), HIGH),
            ("low", _one_hot(), LOW),
            ("num", numeric, NUMERIC),
        ),
        StandardScaler(),
    )
    # One small layer, heavy L2 and a slow learning rate: wider or deeper nets only overfit here.
    # No early stopping: MLPClassifier stops on validation *accuracy*, which barely moves when
    # a quarter of applicants are bad, so it stopped at random points.
    model = MLPClassifier(
        hidden_layer_sizes=(16,),
        alpha=3.0,
        learning_rate_init=3e-4,
        batch_size=256,
        max_iter=200,
        tol=1e-3,
        n_iter_no_change=3,
        early_stopping=False,
        random_state=random_state,
    )
    return Pipeline([("features", ApplicationFeatures(excluded)), ("encode", encode), ("model", model)])


def _soft_voting(excluded: Sequence[str], random_state: int) -> Pipeline:
    """Average of the boosting and scorecard probabilities: different errors, a steadier score."""
    members = [
        (name, Pipeline(_BUILDERS[name](excluded, random_state).steps[1:]))  # features shared below
        for name in ("hist_gradient_boosting", "logistic_regression")
    ]
    model = VotingClassifier(members, voting="soft", weights=[2, 1])
    return Pipeline([("features", ApplicationFeatures(excluded)), ("model", model)])


_BUILDERS: dict[str, Callable[[Sequence[str], int], Pipeline]] = {
    "logistic_regression": _logistic_regression,
    "hist_gradient_boosting": _hist_gradient_boosting,
    "random_forest": _random_forest,
    "mlp": _mlp,
}
_BUILDERS["soft_voting"] = _soft_voting  # built from the others, so added after them

CANDIDATE_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def make_candidate(name: str, *, excluded: Sequence[str] = schema.DEFAULT_EXCLUDED, random_state: int = 0) -> Pipeline:
    """A fresh, unfitted pipeline for the candidate ``name`` (one of :data:`CANDIDATE_NAMES`)."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown candidate {name!r}; choose from {', '.join(CANDIDATE_NAMES)}") from None
    return builder(tuple(excluded), random_state)
