from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.candidates import CANDIDATE_NAMES
from ml.data import DataFormatError, join_uri
from scoring.selectors import model_version_get_active
from scoring.services.model_versions import model_version_train, training_config


class Command(BaseCommand):
    help = "Train and compare the candidate models, calibrate the best, and register it as a model version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", help="Labelled file (local path or s3://); default: the modelling file "
                                           "in CREDITRISK_DATA_URI")  # fmt: skip
        parser.add_argument("--candidates", nargs="+", choices=CANDIDATE_NAMES, help="Compare only these")
        parser.add_argument("--holdout", type=float, help="Share of rows held out for the simulation (default 0.2)")
        parser.add_argument("--folds", type=int, help="Cross-validation folds (default 5)")
        parser.add_argument(
            "--if-none-active",
            action="store_true",
            help="Do nothing when a model version is already active (used by make run)",
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
        active = model_version_get_active()
        if options["if_none_active"] and active is not None:
            self._say(f"{active.version} is active; not training (run `make train` to train a new version)")
            return
        data = options["data"] or join_uri(str(settings.CREDITRISK_DATA_URI), settings.CREDITRISK_TRAINING_FILE)
        config = training_config()
        changes = {"candidates": tuple(options["candidates"] or ()), "holdout_fraction": options["holdout"],
                   "n_splits": options["folds"]}  # fmt: skip
        config = replace(config, **{k: v for k, v in changes.items() if v})
        if options["holdout"] == 0:
            config = replace(config, holdout_fraction=0.0)
        try:
            version = model_version_train(data_uri=data, config=config, activate=options["activate"],
                                          card_path=options["model_card"], progress=self._say)  # fmt: skip
        except DataFormatError as exc:
            raise CommandError(f"{data}: {exc}") from exc
        self._say("")
        for row in version.comparison:
            self._say(f"  {row['candidate']:<45} ROC AUC {row['roc_auc']:.4f} ± {row['roc_auc_std']:.4f}  "
                      f"Gini {row['gini']:.3f}  KS {row['ks']:.3f}  Brier {row['brier']:.4f}  "
                      f"{row['fit_seconds']:.1f} s/fit{'  <- chosen' if row['chosen'] else ''}")  # fmt: skip
        state = "active" if version.is_active else "registered, not active"
        self.stdout.write(
            self.style.SUCCESS(
                f"{version.version}: {version.algorithm}, CV ROC AUC {version.cv_metrics['roc_auc']:.4f}, "
                f"artifact sha256 {version.artifact_sha256[:12]}..., {state}, {version.training_seconds:.0f} s"
            )
        )

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
