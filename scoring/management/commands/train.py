from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.candidates import CANDIDATE_NAMES, DEFAULT_CANDIDATE
from ml.data import join_uri
from ml.file_formats import DataFormatError
from ml.progress import lines_beside_bars
from ml.registry import ArtifactUnusableError
from scoring.models import ModelVersion
from scoring.selectors import model_version_get, model_version_get_active
from scoring.services.drift import NoDriftReferenceError, drift_reference_add
from scoring.services.model_versions import model_version_train, training_config


class Command(BaseCommand):
    help = "Train and compare the candidate models, calibrate the best, and register it as a model version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data", help="Labelled file (local path or s3://); default: the modelling file in CREDITRISK_DATA_URI"
        )
        parser.add_argument("--candidates", nargs="+", choices=CANDIDATE_NAMES, help="Compare only these")
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"Train only {DEFAULT_CANDIDATE} (the full comparison's choice), without the comparison's "
            "variants: a first start (make run). make train runs the whole comparison",
        )
        parser.add_argument(
            "--jobs", type=int, help="Folds fitted at once, one process each (default CREDITRISK_TRAINING_JOBS)"
        )
        parser.add_argument("--holdout", type=float, help="Share of rows held out for the simulation (default 0.2)")
        parser.add_argument(
            "--refit-all",
            action="store_true",
            help="Once the chosen candidate is measured on the holdout, refit it on every labelled row (holdout "
            "included) for the artifact, its sigmoid on a cross-validation over all of them; the model card records "
            "both. The holdout is then no longer unseen: simulations refuse it as their test set",
        )
        parser.add_argument("--folds", type=int, help="Cross-validation folds (default 5)")
        parser.add_argument(
            "--if-none-active",
            action="store_true",
            help="Do nothing when a model version that can score is already active (used by make run)",
        )
        parser.add_argument(
            "--add-drift-reference",
            nargs="?",
            const="",
            metavar="VERSION",
            help="Fit nothing: add the development rows' distributions (drift reports) to VERSION (default: the "
            "active one), trained before they were kept; reads its training file again (--data to say where)",
        )
        parser.add_argument("--model-card", type=Path, help="Also write the model card here (with figures/ beside)")
        activation = parser.add_mutually_exclusive_group()
        activation.add_argument("--activate", action="store_true", default=None, help="Activate the new version")
        activation.add_argument(
            "--no-activate",
            dest="activate",
            action="store_false",
            help="Register without activating (default: activate only if none is active)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["add_drift_reference"] is not None:
            self._add_drift_reference(options["add_drift_reference"], options["data"])
            return
        active = model_version_get_active()
        if options["if_none_active"] and active is not None:
            if active.scorer_path:
                self._say(f"{active.version} is active; not training (run `make train` to train a new version)")
                return
            # A version trained before the compiled scorer cannot score: replace it, as a first start would.
            self._say(f"{active.version} was trained before the compiled scorer and cannot score; training a new one")
            options["activate"] = True
        data = options["data"] or join_uri(str(settings.CREDITRISK_DATA_URI), settings.CREDITRISK_TRAINING_FILE)
        config = training_config()
        changes = {
            "candidates": tuple(options["candidates"] or ()),
            "holdout_fraction": options["holdout"],
            "n_splits": options["folds"],
        }
        config = replace(config, **{k: v for k, v in changes.items() if v})
        if options["quick"]:
            config = replace(config, candidates=tuple(options["candidates"] or (DEFAULT_CANDIDATE,)), variants=False)
        if options["jobs"]:
            config = replace(config, n_jobs=options["jobs"])
        if options["holdout"] == 0:
            config = replace(config, holdout_fraction=0.0)
        if options["refit_all"]:
            if config.holdout_fraction <= 0:
                raise CommandError("--refit-all needs a holdout (the model is measured on it before the refit)")
            config = replace(config, refit_all=True)
        try:
            version = model_version_train(
                data_uri=data,
                config=config,
                activate=options["activate"],
                card_path=options["model_card"],
                progress=self._say,
                show_progress=None,
            )
        except DataFormatError as exc:
            raise CommandError(f"{data}: {exc}") from exc
        self._say("")
        for row in version.comparison:
            self._say(
                f"  {row['candidate']:<45} ROC AUC {row['roc_auc']:.4f} ± {row['roc_auc_std']:.4f}  "
                f"Gini {row['gini']:.3f}  KS {row['ks']:.3f}  Brier {row['brier']:.4f}  "
                f"{row['fit_seconds']:.1f} s/fit{'  <- chosen' if row['chosen'] else ''}"
            )
        if version.refit:
            refit = version.refit["cv_metrics"]
            self._say(
                f"  refitted on all {version.refit['rows']} labelled rows: CV ROC AUC {refit['roc_auc']:.4f} "
                f"± {refit['roc_auc_std']:.4f} over them; holdout ROC AUC "
                f"{version.holdout_metrics.get('roc_auc', float('nan')):.4f} (the model before the refit)"
            )
        state = "active" if version.is_active else "registered, not active"
        self.stdout.write(
            self.style.SUCCESS(
                f"{version.version}: {version.algorithm}, CV ROC AUC {version.cv_metrics['roc_auc']:.4f}, "
                f"artifact sha256 {version.artifact_sha256[:12]}..., {state}, {version.training_seconds:.0f} s"
            )
        )

    def _add_drift_reference(self, name: str, data: str | None) -> None:
        try:
            version = model_version_get(version=name) if name else model_version_get_active()
        except ModelVersion.DoesNotExist:
            raise CommandError(f"no model version {name}") from None
        if version is None:
            raise CommandError("no model version is active; name one")
        if version.drift_reference:
            self._say(f"{version.version} already has its drift reference; nothing to do")
            return
        try:
            version = drift_reference_add(model_version=version, data_uri=data)
        except (NoDriftReferenceError, DataFormatError, ArtifactUnusableError) as exc:
            raise CommandError(str(exc)) from exc
        reference = version.drift_reference
        self.stdout.write(
            self.style.SUCCESS(
                f"{version.version}: drift reference of {reference['rows']} development rows and "
                f"{len(reference['inputs'])} inputs added ({reference['score_source']})"
            )
        )

    def _say(self, message: str) -> None:
        with lines_beside_bars():  # above the progress bar, which is drawn again below
            self.stdout.write(message)
            self.stdout.flush()
