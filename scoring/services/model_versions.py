"""Training, registering and activating model versions."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ml import model_card
from ml.data import parse_applications, read_bytes
from ml.file_formats import decode
from ml.registry import save_artifact, save_scorer, save_table, sha256_bytes
from ml.simulation import ThresholdChoice
from ml.training import Progress, TrainingConfig, TrainingResult, train
from scoring.models import ModelVersion


def training_config() -> TrainingConfig:
    return TrainingConfig(
        excluded=tuple(settings.CREDITRISK_EXCLUDED_FEATURES),
        holdout_fraction=settings.CREDITRISK_HOLDOUT_FRACTION,
        random_state=settings.CREDITRISK_RANDOM_STATE,
        n_jobs=settings.CREDITRISK_TRAINING_JOBS,
    )


def model_version_train(
    *,
    data_uri: str,
    config: TrainingConfig | None = None,
    activate: bool | None = None,
    card_path: Path | None = None,
    progress: Progress = print,
    show_progress: bool | None = False,
) -> ModelVersion:
    """Train on the labelled file at ``data_uri`` and register the result.

    The new version is activated when ``activate`` says so, or, by default, when none is active.
    ``card_path`` also writes the model card and its figures there (``docs/model_card.md``).
    ``show_progress``: a bar of the training's fits on stderr (None: where stderr is a terminal).
    """
    config = config or training_config()
    raw = read_bytes(data_uri)
    progress(f"reading {data_uri}")
    applications = parse_applications(decode(raw), require_label=True)
    result = train(applications.frame, config, progress, show_progress=show_progress)
    version = _next_version()
    created_at = timezone.now()
    facts = {"data_source": data_uri, "data_sha256": sha256_bytes(raw), "created_at": created_at.isoformat()}
    artifact, digest = save_artifact(result.model, settings.CREDITRISK_MODEL_DIR, version, _metadata(result, facts))
    scorer, scorer_digest = save_scorer(result.scorer, settings.CREDITRISK_MODEL_DIR, version)
    facts["artifact_sha256"], facts["scorer_sha256"] = digest, scorer_digest
    card = _write_cards(result, version, facts, card_path)
    validation_path, validation_digest, choice = _policy_threshold(result, version, progress)
    model_version = ModelVersion.objects.create(
        version=version,
        algorithm=result.algorithm,
        hyperparameters=result.hyperparameters,
        features=result.features,
        excluded_features=list(config.excluded),
        cv_metrics=result.cv_metrics,
        comparison=result.comparison.to_dict(orient="records"),
        holdout_metrics=result.holdout_metrics,
        holdout_ids=result.holdout_ids,
        feature_importance={k: float(v) for k, v in result.feature_importance.items()},
        reference_applicant=result.reference_applicant,
        rows=result.rows,
        random_state=config.random_state,
        data_source=data_uri,
        data_sha256=facts["data_sha256"],
        artifact_path=artifact.name,
        artifact_sha256=digest,
        scorer_path=scorer.name,
        scorer_sha256=scorer_digest,
        reference_probability=result.reference_probability,
        monotone=[list(pair) for pair in result.config.monotone],
        library_versions=result.library_versions,
        model_card=card,
        threshold=choice.threshold if choice else settings.CREDITRISK_DEFAULT_THRESHOLD,
        threshold_choice=choice.as_dict() if choice else {},
        validation_path=validation_path,
        validation_sha256=validation_digest,
        training_seconds=result.seconds,
        drift_reference=result.drift_reference,
        refit=result.refit,
    )
    if activate or (activate is None and not ModelVersion.objects.filter(is_active=True).exists()):
        model_version = model_version_activate(model_version=model_version)
    return model_version


def _policy_threshold(
    result: TrainingResult, version: str, progress: Progress
) -> tuple[str, str, ThresholdChoice | None]:
    """Keep the validation predictions beside the artifact, with the policy cut-off chosen on them.

    The cut-off (chosen in training, :mod:`ml.training`) maximises profit under the default
    economics on the development rows' out-of-fold predictions: never on the holdout, which stays
    the simulation's untouched test set. With ``train --refit-all`` the final fit has seen the
    holdout too, and the out-of-fold predictions are those of a cross-validation over every row.
    """
    if result.validation.empty:
        return "", "", None
    name = f"{version}.validation.csv.gz"
    digest = save_table(result.validation, settings.CREDITRISK_MODEL_DIR / name)
    choice = result.threshold_choice
    if choice is not None:
        progress(
            f"policy cut-off {choice.threshold:.4f} (profit-maximising on {choice.validation_rows} "
            f"validation rows; break-even {choice.break_even:.2f})"
        )
    return name, digest, choice


def _next_version() -> str:
    numbers = [
        int(m.group(1))
        for v in ModelVersion.objects.values_list("version", flat=True)
        if (m := re.fullmatch(r"v(\d+)", v))
    ]
    number = max(numbers, default=0) + 1
    # An artifact left in the folder by an earlier database must never be overwritten.
    while (settings.CREDITRISK_MODEL_DIR / f"v{number}.joblib").exists():
        number += 1
    return f"v{number}"


def _metadata(result: TrainingResult, facts: dict[str, str]) -> dict[str, object]:
    return {
        **facts,
        "algorithm": result.algorithm,
        "cv_metrics": result.cv_metrics,
        "holdout_metrics": result.holdout_metrics,
        "refit": result.refit,
        "features": result.features,
        "excluded": list(result.config.excluded),
        "library_versions": result.library_versions,
    }


def _write_cards(result: TrainingResult, version: str, facts: dict[str, str], card_path: Path | None) -> str:
    folder = settings.CREDITRISK_MODEL_DIR
    figures = model_card.write_figures(result, folder, version)
    text = model_card.render(result, version=version, figures=figures, facts=facts)
    (folder / f"{version}.md").write_text(text)
    if card_path is not None:
        figure_dir = card_path.parent / "figures"
        shared = model_card.write_figures(result, figure_dir, "model")
        relative = {role: f"figures/{name}" for role, name in shared.items()}
        card_path.write_text(model_card.render(result, version=version, figures=relative, facts=facts))
    return text


@transaction.atomic
def model_version_activate(*, model_version: ModelVersion) -> ModelVersion:
    """Make ``model_version`` the one active version; every scorer picks it up on its next request.

    Activating the challenger is its promotion: it becomes the champion, and there is no challenger
    until one is named again (a version is never both).
    """
    # Lock the active row so two activations cannot both succeed half-way.
    list(ModelVersion.objects.select_for_update().filter(is_active=True))
    ModelVersion.objects.filter(is_active=True).exclude(pk=model_version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=model_version.pk).update(
        is_active=True, activated_at=timezone.now(), is_challenger=False, challenger_since=None
    )
    model_version.refresh_from_db()
    return model_version
