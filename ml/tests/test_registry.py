import numpy as np
import pytest

from ml import schema
from ml.candidates import make_candidate
from ml.registry import ArtifactIntegrityError, artifact_signature, load_artifact, save_artifact


@pytest.fixture(scope="module")
def fitted(sample_frame):
    model = make_candidate("logistic_regression", random_state=0)
    return model.fit(sample_frame[list(schema.FEATURE_NAMES)], sample_frame[schema.LABEL])


def test_save_and_reload_give_identical_predictions(fitted, sample_frame, tmp_path):
    path, digest = save_artifact(fitted, tmp_path, "v1", {"algorithm": "logistic_regression"})
    reloaded = load_artifact(path, digest)
    X = sample_frame[list(schema.FEATURE_NAMES)]
    np.testing.assert_array_equal(reloaded.predict_proba(X), fitted.predict_proba(X))
    assert (tmp_path / "v1.json").read_text().count(digest) == 1


def test_altered_artifact_is_refused_before_unpickling(fitted, tmp_path):
    path, digest = save_artifact(fitted, tmp_path, "v1", {})
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ArtifactIntegrityError, match="refusing to load"):
        load_artifact(path, digest)


def test_missing_artifact_is_refused(tmp_path):
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        load_artifact(tmp_path / "gone.joblib", "0" * 64)


def test_an_unreadable_artifact_is_refused_with_the_reason(tmp_path):
    (tmp_path / "v1.joblib").mkdir()  # a folder where the file should be
    with pytest.raises(ArtifactIntegrityError, match="cannot be read"):
        load_artifact(tmp_path / "v1.joblib", "0" * 64)


def test_the_signature_of_a_missing_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(ArtifactIntegrityError, match="is missing; refusing to score without it"):
        artifact_signature(tmp_path / "gone.joblib")


def test_the_signature_changes_when_the_file_is_rewritten(fitted, tmp_path):
    path, _ = save_artifact(fitted, tmp_path, "v1", {})
    before = artifact_signature(path)
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    assert artifact_signature(path) != before
