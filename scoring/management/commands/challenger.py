from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from scoring.management.commands.drift import _moment
from scoring.models import ModelVersion
from scoring.selectors import model_version_get
from scoring.services.challenger import ChallengerError, challenger_clear, challenger_set
from scoring.services.challenger_comparison import ChallengerComparison, NoComparisonError, challenger_comparison


class Command(BaseCommand):
    help = (
        "Champion and challenger: make a version the challenger (--set), stop it (--clear), or compare it with "
        "the champion on the live decisions it scored in shadow (the default). Promotion is activation (admin)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        change = parser.add_mutually_exclusive_group()
        change.add_argument("--set", metavar="VERSION", help="Make VERSION the challenger (in place of any other)")
        change.add_argument("--clear", action="store_true", help="Stop the challenger; its shadow scores stay")
        parser.add_argument(
            "--challenger",
            metavar="VERSION",
            help="Compare this version (default: the challenger now, else the last one that scored)",
        )
        parser.add_argument(
            "--champion",
            metavar="VERSION",
            help="... with this champion (default: the champion of its latest shadow score)",
        )
        parser.add_argument("--since", help="Shadow scores from this date or time (UTC, ISO 8601)")
        parser.add_argument("--until", help="... up to this date or time")
        parser.add_argument("--json", action="store_true", help="Print the comparison as JSON (for machines)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["set"]:
            try:
                version = challenger_set(model_version=self._version(options["set"]))
            except ChallengerError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(
                self.style.SUCCESS(
                    f"{version.version} is the challenger: every new decision is also scored by it in shadow"
                )
            )
            return
        if options["clear"]:
            cleared = challenger_clear()
            self.stdout.write(
                f"{cleared.version} is no longer the challenger" if cleared else "there was no challenger"
            )
            return
        since = _moment(options["since"], "--since") if options["since"] else None
        until = _moment(options["until"], "--until") if options["until"] else None
        versions = {role: self._version(options[role]) for role in ("challenger", "champion") if options[role]}
        try:
            report = challenger_comparison(since=since, until=until, **versions)
        except NoComparisonError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, cls=DjangoJSONEncoder))
        else:
            self.stdout.write("\n".join(comparison_lines(report)))

    def _version(self, name: str) -> ModelVersion:
        try:
            return model_version_get(version=name)
        except ModelVersion.DoesNotExist:
            raise CommandError(f"no model version {name}") from None


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def comparison_lines(report: ChallengerComparison) -> list[str]:
    """The comparison as a terminal reads it."""
    c, shift = report.comparison, report.comparison.shift
    lines = [
        f"challenger {report.challenger} against champion {report.champion}: {c.decisions:,} decisions compared "
        f"({report.single:,} single, {report.bulk:,} bulk), {report.failed:,} the challenger could not score",
        f"agreement rate      {_share(c.agreement_rate)}",
        f"approval rate       champion {_share(c.champion_approval_rate)}, challenger {_share(c.challenger_approval_rate)}",
        f"mean probability    champion {_number(c.champion_mean_probability, 4)}, "
        f"challenger {_number(c.challenger_mean_probability, 4)}",
    ]
    for swap in (c.swap_in, c.swap_out):
        lines.append(
            f"{swap.name:<19} {swap.decisions:,} ({_share(swap.share)}) {swap.description}; mean probability "
            f"champion {_number(swap.champion_mean_probability, 4)}, "
            f"challenger {_number(swap.challenger_mean_probability, 4)}"
        )
    lines.append(
        f"score shift         mean {_number(shift.mean, 1)} points (challenger minus champion), "
        f"{', '.join(f'{k} {v}' for k, v in shift.quantiles.items()) or '-'}; "
        f"moved 20 points or more {_share(shift.share_moved_20)}"
    )
    lines += [f"  {band['label']:<20} {band['decisions']:>9,}  {_share(band['share'])}" for band in shift.bands]
    lines += [f"failed: {failure['decisions']:,} x {failure['error']}" for failure in report.failures]
    lines += realised_lines(report.realised)
    lines += [f"note: {note}" for note in report.notes]
    return lines


def realised_lines(realised: dict[str, Any] | None) -> list[str]:
    """Both versions measured on the shadowed decisions with an outcome, and what that cannot show."""
    if realised is None:
        return ["realised            no shadowed decision has an outcome yet"]
    lines = [
        f"realised            {realised['outcomes']:,} shadowed decisions with an outcome "
        f"({realised['swap_in_with_outcome']:,} in the swap-in set, {realised['swap_out_with_outcome']:,} "
        "in the swap-out set)"
    ]
    for role in ("champion", "challenger"):
        figures = realised[role]
        approved, profit = figures["approved"], figures["profit"]
        lines.append(
            f"  {role:<10} ROC AUC {_number(figures['roc_auc'], 3)}, KS {_number(figures['ks'], 3)}; "
            f"approved bad rate {_share(approved['bad_rate'])} observed, "
            f"{_share(approved['expected_bad_rate'])} predicted; realised profit {profit['realised']:,.0f} "
            f"against {profit['expected']:,.0f} expected"
        )
    lines.append(f"  limit: {realised['limit']}")
    return lines
