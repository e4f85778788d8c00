"""A small model with a holdout and kept validation predictions, trained once for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ml.data import to_original_format
from ml.registry import save_artifact, save_scorer, save_table, sha256_file
from ml.sample import synthetic_applications
from ml.simulation import Economics, threshold_choice_for
from ml.training import TrainingConfig, train
from scoring.models import ModelVersion
from scoring.tests.factories import UserFactory

FAST = TrainingConfig(
    candidates=("logistic_regression",), n_splits=3, holdout_fraction=0.25, random_state=0, importance_rows=200
)


@pytest.fixture(scope="session")
def simulation_model(tmp_path_factory) -> dict:
    """Trained as `train` trains, on a labelled synthetic file kept on disk for the holdout runs."""
    folder = tmp_path_factory.mktemp("simulation-models")
    frame = synthetic_applications(1200, seed=21)
    data = folder / "modelling.txt"
    data.write_text(to_original_format(frame), encoding="latin-1", newline="")
    result = train(frame, FAST, progress=lambda _: None)
    path, digest = save_artifact(result.model, folder, "v1", {})
    scorer, scorer_digest = save_scorer(result.scorer, folder, "v1")
    validation_sha256 = save_table(result.validation, folder / "v1.validation.csv.gz")
    choice = threshold_choice_for(validation=result.validation, economics=Economics())
    return {
        "folder": folder,
        "data": data,
        "frame": frame,
        "result": result,
        "artifact": path.name,
        "sha256": digest,
        "scorer": scorer.name,
        "scorer_sha256": scorer_digest,
        "validation_sha256": validation_sha256,
        "choice": choice,
    }


@pytest.fixture(autouse=True)
def simulation_dir(settings, tmp_path: Path) -> Path:
    settings.CREDITRISK_SIMULATION_DIR = tmp_path / "simulations"
    return settings.CREDITRISK_SIMULATION_DIR


@pytest.fixture
def model_version(db, simulation_model, settings) -> ModelVersion:
    """The session's model registered and active, as `train` would have registered it."""
    settings.CREDITRISK_MODEL_DIR = simulation_model["folder"]
    result, choice = simulation_model["result"], simulation_model["choice"]
    return ModelVersion.objects.create(
        version="v1",
        algorithm=result.algorithm,
        features=result.features,
        excluded_features=list(result.config.excluded),
        cv_metrics=result.cv_metrics,
        holdout_ids=result.holdout_ids,
        reference_applicant=result.reference_applicant,
        random_state=0,
        data_source=str(simulation_model["data"]),
        data_sha256=sha256_file(simulation_model["data"]),
        artifact_path=simulation_model["artifact"],
        artifact_sha256=simulation_model["sha256"],
        scorer_path=simulation_model["scorer"],
        scorer_sha256=simulation_model["scorer_sha256"],
        reference_probability=result.reference_probability,
        threshold=choice.threshold,
        threshold_choice=choice.as_dict(),
        validation_path="v1.validation.csv.gz",
        validation_sha256=simulation_model["validation_sha256"],
        is_active=True,
    )


@pytest.fixture
def labelled_test_file(tmp_path: Path) -> Path:
    """Applicants the model never saw, with outcomes (another seed, other IDs)."""
    path = tmp_path / "test.txt"
    frame = synthetic_applications(400, seed=99, first_id=10_001)
    path.write_text(to_original_format(frame), encoding="latin-1", newline="")
    return path


def flip_labels(path: Path) -> Path:
    """The same applicants with every outcome reversed."""
    lines = path.read_bytes().decode("latin-1").split("\r\n")
    flipped = [
        "\t".join([*line.split("\t")[:-1], "1" if line.split("\t")[-1] == "0" else "0"]) for line in lines if line
    ]
    out = path.with_name(f"flipped-{path.name}")
    out.write_text("\r\n".join(flipped) + "\r\n", encoding="latin-1", newline="")
    return out


def api_client(username: str, *, staff: bool = False) -> APIClient:
    user = UserFactory.create(username=username, is_staff=staff)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def api(db) -> APIClient:
    return api_client("lender-a")


@pytest.fixture
def other_api(db) -> APIClient:
    return api_client("lender-b")


@pytest.fixture
def staff_api(db) -> APIClient:
    return api_client("risk-manager", staff=True)
