"""A worker keeps a checked model in memory, and still refuses it once its file is altered or deleted."""

from __future__ import annotations

import shutil

import pytest

from ml.registry import ArtifactIntegrityError, ArtifactOutdatedError
from scoring.model_registry import model_version_load

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_artifact(active_version, trained, tmp_path, settings):
    """The active version's compiled scorer in a folder of this test's own, so it can be damaged."""
    settings.CREDITRISK_MODEL_DIR = tmp_path
    path = tmp_path / active_version.scorer_path
    shutil.copyfile(trained["scorer"], path)
    return path


def test_the_model_is_loaded_once_while_its_file_is_unchanged(active_version, own_artifact):
    assert model_version_load(model_version=active_version) is model_version_load(model_version=active_version)


def test_an_artifact_altered_after_loading_is_refused(active_version, own_artifact):
    model_version_load(model_version=active_version)
    own_artifact.write_bytes(own_artifact.read_bytes() + b"tampered")
    with pytest.raises(ArtifactIntegrityError, match="refusing to load it"):
        model_version_load(model_version=active_version)


def test_an_artifact_deleted_after_loading_is_refused(active_version, own_artifact):
    model_version_load(model_version=active_version)
    own_artifact.unlink()
    with pytest.raises(ArtifactIntegrityError, match="is missing"):
        model_version_load(model_version=active_version)


def test_a_version_trained_before_the_compiled_scorer_is_refused_with_a_way_out(active_version):
    active_version.scorer_path = ""
    with pytest.raises(ArtifactOutdatedError, match=r"trained before the compiled scorer.*make train"):
        model_version_load(model_version=active_version)
