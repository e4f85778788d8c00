import pytest
from django.db import IntegrityError

from ml.registry import ArtifactIntegrityError, sha256_file
from scoring.model_registry import model_version_load
from scoring.models import ModelVersion
from scoring.selectors import model_version_get_active
from scoring.services.model_versions import model_version_activate, model_version_train
from scoring.tests.conftest import FAST

pytestmark = pytest.mark.django_db


def test_training_registers_and_activates_the_first_version(trained_version, model_dir, sample_file):
    assert trained_version.is_active and trained_version.version == "v1"
    assert trained_version.algorithm == "logistic_regression"
    assert trained_version.artifact_sha256 == sha256_file(model_dir / trained_version.artifact_path)
    assert trained_version.scorer_sha256 == sha256_file(model_dir / trained_version.scorer_path)
    assert trained_version.scorer_path == "v1.scorer.joblib" and trained_version.library_versions["lightgbm"]
    assert trained_version.data_sha256 == sha256_file(sample_file)
    assert 0.5 < trained_version.cv_metrics["roc_auc"] < 1
    assert {"roc_auc", "gini", "ks", "brier", "log_loss", "fit_seconds"} <= set(trained_version.cv_metrics)
    assert "SEX" not in trained_version.features and "SEX" in trained_version.excluded_features
    assert trained_version.library_versions["scikit-learn"]
    assert len(trained_version.holdout_ids) == 120
    assert "# Model card: v1" in trained_version.model_card and (model_dir / "v1.md").is_file()
    trained_version.refresh_from_db()  # the drift reference, as stored
    assert trained_version.drift_reference["rows"] == 480 and len(trained_version.drift_reference["inputs"]) == 52


def test_training_chooses_the_policy_threshold_on_validation_predictions_only(trained_version, model_dir):
    from ml.registry import load_table

    choice = trained_version.threshold_choice
    assert trained_version.threshold == choice["threshold"] and 0 < choice["threshold"] < 1
    assert choice["validation_rows"] == 480 and choice["economics"]["margin"] == 0.25
    validation = load_table(model_dir / trained_version.validation_path, trained_version.validation_sha256)
    assert len(validation) == 480 and set(validation["ID_CLIENT"]).isdisjoint(trained_version.holdout_ids)
    assert validation["probability_bad"].between(0, 1).all()


def test_comparison_shows_the_cost_of_the_constraints_and_the_effect_of_the_excluded_attributes(trained_version):
    names = [row["candidate"] for row in trained_version.comparison]
    assert names == [
        "logistic_regression",
        "logistic_regression without monotone constraints",
        "logistic_regression + SEX, MARITAL_STATUS",
    ]
    assert ["PERSONAL_MONTHLY_INCOME", -1] in trained_version.monotone
    assert "of CV ROC AUC (" in trained_version.model_card and "without them" in trained_version.model_card


def test_the_reference_applicant_is_approved_at_the_policy_cut_off(trained_version):
    scorer = model_version_load(model_version=trained_version)
    risk = scorer.probability_bad(trained_version.reference_applicant)[0]
    assert risk == pytest.approx(trained_version.reference_probability) and risk < trained_version.threshold


def test_a_second_version_is_not_activated_unless_asked(trained_version, sample_file):
    second = model_version_train(data_uri=str(sample_file), config=FAST, progress=lambda _: None)
    assert second.version == "v2" and not second.is_active
    assert model_version_get_active() == trained_version


def test_activating_a_version_deactivates_the_other(trained_version, sample_file):
    second = model_version_train(data_uri=str(sample_file), config=FAST, progress=lambda _: None)
    model_version_activate(model_version=second)
    assert list(ModelVersion.objects.filter(is_active=True)) == [second]


def test_database_allows_only_one_trained_version(trained_version, sample_file):
    second = model_version_train(data_uri=str(sample_file), config=FAST, progress=lambda _: None)
    with pytest.raises(IntegrityError):
        ModelVersion.objects.filter(pk=second.pk).update(is_active=True)


def test_an_altered_artifact_is_never_loaded(trained_version, model_dir):
    path = model_dir / trained_version.scorer_path
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ArtifactIntegrityError, match="refusing to load"):
        model_version_load(model_version=trained_version)


def test_a_version_refitted_on_every_row_records_both_figures(db, sample_file, model_dir, monkeypatch):
    from dataclasses import replace

    from ml.registry import load_table
    from scoring.services import model_versions
    from scoring.tests.conftest import _train_once

    monkeypatch.setattr(model_versions, "train", _train_once)
    version = model_version_train(
        data_uri=str(sample_file), config=replace(FAST, refit_all=True, variants=False), progress=lambda _: None
    )
    assert version.holdout_seen and version.refit["rows"] == 600 and len(version.holdout_ids) == 120
    assert version.holdout_metrics["roc_auc"] > 0.5 and version.refit["cv_metrics"]["roc_auc"] > 0.5
    assert "## Refitted on all 600 labelled rows" in version.model_card
    assert "those of the model fitted on the development rows, measured once on the holdout" in version.model_card
    validation = load_table(model_dir / version.validation_path, version.validation_sha256)
    assert len(validation) == 600 and set(version.holdout_ids) <= set(validation["ID_CLIENT"])
    assert model_version_load(model_version=version) is not None  # its scorer registered and verified


def test_refit_all_without_a_holdout_is_refused_before_training(db, sample_file):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--refit-all needs a holdout"):
        call_command("train", "--data", str(sample_file), "--refit-all", "--holdout", "0")
    assert not ModelVersion.objects.exists()
