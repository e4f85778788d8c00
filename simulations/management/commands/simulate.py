from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ml.progress import progress_bar
from ml.simulation import Economics
from scoring.model_registry import NoActiveModelError, points_scale
from scoring.models import ModelVersion
from simulations.models import SimulationRun
from simulations.reports import chart_files, summary_json, summary_lines
from simulations.services import SIMULATION_STEPS, SimulationError, simulation_run_create, simulation_run_execute


class Command(BaseCommand):
    help = (
        "Lending simulation: show the model every applicant of a labelled test set, decide at the policy "
        "cut-off, book each outcome and compare with approving everyone and with the oracle."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data",
            help="Labelled file (either format, local or s3://); default: the rows held out when the model was trained",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of the report")
        parser.add_argument("--model-version", help="Default: the active version")
        parser.add_argument("--threshold", type=float, help="Evaluate this cut-off instead of the policy's")
        parser.add_argument(
            "--apply-threshold", action="store_true", help="Store the run's cut-off as the model's policy threshold"
        )
        parser.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap resamples (default 1000)")
        parser.add_argument("--figures", type=Path, help="Also write the charts as PNG files into this folder")
        defaults = Economics()
        economics = parser.add_argument_group("economics (defaults: docs/simulation.md)")
        economics.add_argument("--exposure", type=float, default=defaults.exposure)
        economics.add_argument("--margin", type=float, default=defaults.margin)
        economics.add_argument("--loss-given-default", type=float, default=defaults.loss_given_default)
        economics.add_argument("--income-multiple", type=float, help="Exposure as this multiple of monthly income")
        economics.add_argument("--exposure-cap", type=float, help="Cap on the income-based exposure")
        economics.add_argument("--cost-per-application", type=float, default=defaults.cost_per_application)
        economics.add_argument("--cost-of-funds", type=float, default=defaults.cost_of_funds)

    def handle(self, *args: Any, **options: Any) -> None:
        economics = _economics(options)
        version = _model_version(options["model_version"])
        if options["threshold"] is not None and not 0 <= options["threshold"] <= 1:
            raise CommandError("--threshold must be a probability, from 0 to 1")
        try:
            run = simulation_run_create(
                requested_by=None,
                economics=economics,
                model_version=version,
                data_uri=options["data"],
                threshold=options["threshold"],
                apply_threshold=options["apply_threshold"],
                bootstrap_samples=options["bootstrap"],
                dispatch=False,
            )
        except (NoActiveModelError, SimulationError) as exc:
            raise CommandError(str(exc)) from exc
        steps = len(SIMULATION_STEPS) + bool(options["figures"])
        with progress_bar(steps, "simulation", unit="step") as bar:
            run = simulation_run_execute(run_id=run.pk, progress=partial(_done, bar))
            if run.status == SimulationRun.Status.FAILED:
                raise CommandError(run.error)
            figures = chart_files(run, options["figures"], points_scale()) if options["figures"] else []
            if figures:
                _done(bar, "charts drawn")
        for warning in run.warnings:
            self.stderr.write(f"warning: {warning}")
        for path in figures:
            self.stderr.write(f"wrote {path}")
        if options["json"]:
            self.stdout.write(json.dumps(summary_json(run), indent=2))
        else:
            self.stdout.write("\n".join(summary_lines(run)))


def _done(bar: tqdm, step: str) -> None:
    bar.set_postfix_str(step, refresh=False)
    bar.update(1)


def _economics(options: dict[str, Any]) -> Economics:
    try:
        return Economics(
            exposure=options["exposure"],
            margin=options["margin"],
            loss_given_default=options["loss_given_default"],
            income_multiple=options["income_multiple"],
            exposure_cap=options["exposure_cap"],
            cost_per_application=options["cost_per_application"],
            cost_of_funds=options["cost_of_funds"],
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _model_version(name: str | None) -> ModelVersion | None:
    if name is None:
        return None
    try:
        return ModelVersion.objects.get(version=name)
    except ModelVersion.DoesNotExist:
        raise CommandError(f"no model version {name!r}") from None
