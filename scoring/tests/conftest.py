from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import kombu
import pandas as pd
import psycopg2
import pytest
import redis
from django.db import connection
from kombu.transport import redis as redis_transport
from rest_framework.test import APIClient

from ml import schema
from ml.data import to_original_format
from ml.registry import save_artifact, save_scorer
from ml.sample import synthetic_applications
from ml.training import Progress, TrainingConfig, TrainingResult, train
from scoring.models import ModelVersion
from scoring.services import model_versions
from scoring.services.model_versions import model_version_train

FAST = TrainingConfig(
    candidates=("logistic_regression",), n_splits=3, holdout_fraction=0.2, random_state=0, importance_rows=300
)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict:
    """One small model trained once for the session, saved where tests and the worker look."""
    folder = tmp_path_factory.mktemp("models")
    frame = synthetic_applications(600, seed=11)
    result = train(frame, FAST, progress=lambda _: None)
    path, digest = save_artifact(result.model, folder, "v1", {})
    scorer, scorer_digest = save_scorer(result.scorer, folder, "v1")
    return {
        "folder": folder,
        "path": path,
        "sha256": digest,
        "scorer": scorer,
        "scorer_sha256": scorer_digest,
        "result": result,
        "text": to_original_format(frame.drop(columns=[schema.LABEL])),
    }


@pytest.fixture(scope="session")
def batch_dir(tmp_path_factory) -> Path:
    """Where bulk uploads go, shared with the worker processes the tests start."""
    return tmp_path_factory.mktemp("batches")


@pytest.fixture(autouse=True)
def batch_settings(settings, batch_dir: Path) -> None:
    settings.CREDITRISK_BATCH_DIR = batch_dir
    settings.CREDITRISK_BATCH_CHUNK_ROWS = 100


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path: Path) -> Path:
    settings.CREDITRISK_MODEL_DIR = tmp_path / "models"
    return settings.CREDITRISK_MODEL_DIR


@pytest.fixture
def sample_file(tmp_path: Path, sample_frame) -> Path:
    path = tmp_path / "modelling.txt"
    path.write_text(to_original_format(sample_frame), encoding="latin-1", newline="")
    return path


# Training results by (rows, config): training is seeded, so the same rows and config give the same result.
_TRAINING_RESULTS: dict[tuple[int, TrainingConfig], TrainingResult] = {}


def _train_once(frame: pd.DataFrame, config: TrainingConfig, progress: Progress = print, **options) -> TrainingResult:
    key = (int(pd.util.hash_pandas_object(frame, index=False).sum()), config)
    if key not in _TRAINING_RESULTS:
        _TRAINING_RESULTS[key] = train(frame, config, progress, **options)
    return _TRAINING_RESULTS[key]


@pytest.fixture
def trained_version(db, sample_file: Path, monkeypatch):
    """A version trained and registered by the service in this test (model_version_train reads the file,
    trains, saves and registers). The training step itself runs once a session for these rows and this
    config and is reused after (seeded: the same result); every other step runs in each test."""
    monkeypatch.setattr(model_versions, "train", _train_once)
    return model_version_train(data_uri=str(sample_file), config=FAST, progress=lambda _: None)


@pytest.fixture
def active_version(db, trained, settings) -> ModelVersion:
    """The session's model registered and active (fast)."""
    settings.CREDITRISK_MODEL_DIR = trained["folder"]
    result = trained["result"]
    return ModelVersion.objects.create(
        version="v1",
        algorithm=result.algorithm,
        features=result.features,
        excluded_features=list(result.config.excluded),
        cv_metrics=result.cv_metrics,
        reference_applicant=result.reference_applicant,
        random_state=0,
        data_source="synthetic",
        data_sha256="0" * 64,
        artifact_path=trained["path"].name,
        artifact_sha256=trained["sha256"],
        scorer_path=trained["scorer"].name,
        scorer_sha256=trained["scorer_sha256"],
        reference_probability=result.reference_probability,
        threshold=0.25,
        is_active=True,
    )


def version_like(base: ModelVersion, **changes) -> ModelVersion:
    """Another registered version with ``base``'s artifact and scorer (not active), changed as told."""
    fields = {f.name: getattr(base, f.name) for f in ModelVersion._meta.fields if f.name not in ("id", "created_at")}
    return ModelVersion.objects.create(**{**fields, "is_active": False, "activated_at": None, **changes})


@pytest.fixture
def challenger_version(active_version: ModelVersion) -> ModelVersion:
    """A second version (not yet the challenger) with the session's scorer and a lower cut-off, 0.2: the same
    probabilities as the champion's, and the applicants between 0.2 and 0.25 decided the other way."""
    return version_like(active_version, version="v2", threshold=0.2)


@pytest.fixture
def broken_challenger(active_version: ModelVersion) -> ModelVersion:
    """The challenger, whose scorer file is not the one registered (made so after it was named): every
    shadow score it tries fails."""
    return version_like(active_version, version="v9", scorer_sha256="0" * 64, is_challenger=True)


@pytest.fixture
def drift_version(active_version: ModelVersion, trained) -> ModelVersion:
    """The session's active model with the drift reference its training built."""
    active_version.drift_reference = trained["result"].drift_reference
    active_version.save(update_fields=["drift_reference"])
    return active_version


def database_session(*, autocommit: bool = False) -> psycopg2.extensions.connection:
    """A PostgreSQL session of the test's own on the test database, outside Django's: what another
    process (a web process, a worker, an administrator) does there, with its own transactions."""
    db = connection.settings_dict
    session = psycopg2.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
    )
    session.autocommit = autocommit
    return session


def broker_redis(broker: kombu.Connection) -> redis.Redis:
    """The Redis client behind a broker connection: the tests' broker is Redis."""
    channel = broker.default_channel
    assert isinstance(channel, redis_transport.Channel)
    return channel.client


def wait_for(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    pause: float = 0.1,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll until ``predicate()`` is true; fail the test naming ``what`` (and ``explain()``) after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}" + (f"; {explain()}" if explain else ""))
        time.sleep(pause)


def api_final(client: APIClient, path: str, timeout: float, explain: Callable[[], str] | None = None) -> dict:
    """What the API shows at ``path`` (a score request, a bulk job) once its status is final."""
    body: dict = {}

    def final() -> bool:
        nonlocal body
        body = client.get(path).json()
        return body["status"] in ("done", "failed", "cancelled")

    def last_answer() -> str:
        return f"last answer: {body}" + (f"; {explain()}" if explain else "")

    wait_for(final, timeout, f"{path} to be final", pause=0.2, explain=last_answer)
    return body
