"""The comparison of a challenger with the champion, on the live decisions it scored in shadow.

One pair of versions at a time (the challenger, and the champion whose decisions it shadowed), over
a window of time: agreement, the two swap sets, the score shift and both score distributions
(:mod:`ml.challenger`), the decisions the challenger failed on, and the realised performance of both
once outcomes are recorded (:func:`shadow_realised_performance`). PostgreSQL aggregates the shadow
rows into counts by (decisions, points) first, so the report reads a few thousand rows whatever the
number of decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from django.db.models import Count, Q, QuerySet, Sum

from ml.challenger import COMPARISON_COLUMNS, DecisionComparison, compare_decisions
from scoring.models import ModelVersion, ShadowScore
from scoring.services.outcomes import shadowed_performance


class NoComparisonError(LookupError):
    """There is nothing to compare: no challenger is named and none has shadow scores."""


@dataclass
class ChallengerComparison:
    challenger: str
    champion: str
    challenger_threshold: float
    champion_threshold: float
    since: datetime | None
    until: datetime | None
    single: int  # single decisions the challenger scored
    bulk: int  # bulk decisions it scored
    failed: int  # decisions it could not score (recorded and skipped)
    failures: list[dict[str, Any]]  # error, decisions: the most frequent first
    comparison: DecisionComparison
    # Realised performance of both on the decisions with an outcome; None while there are no outcomes.
    realised: dict[str, Any] | None
    other_champions: list[dict[str, Any]] = field(default_factory=list)  # version, decisions
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "challenger": self.challenger,
            "champion": self.champion,
            "challenger_threshold": self.challenger_threshold,
            "champion_threshold": self.champion_threshold,
            "since": self.since,
            "until": self.until,
            "single": self.single,
            "bulk": self.bulk,
            "failed": self.failed,
            "failures": self.failures,
            "comparison": self.comparison.as_dict(),
            "realised": self.realised,
            "other_champions": self.other_champions,
            "notes": self.notes,
        }


def challenger_comparison(
    *,
    challenger: ModelVersion | None = None,
    champion: ModelVersion | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ChallengerComparison:
    """Compare ``challenger`` (default: the challenger now, else the last one that scored) with
    ``champion`` (default: the champion of its latest shadow score, else the active version) on the
    decisions from ``since`` to ``until``; NoComparisonError when there is no challenger to compare."""
    challenger = challenger or _default_challenger()
    window = _window(ShadowScore.objects.filter(challenger=challenger), since, until)
    champion = champion or _default_champion(window)
    if champion is None:
        raise NoComparisonError("no model version is active, so there is no champion to compare with")
    shadows = window.filter(champion=champion)
    scored = shadows.filter(error="")
    counts = scored.aggregate(
        single=Count("pk", filter=Q(score_request__isnull=False)), bulk=Count("pk", filter=Q(job__isnull=False))
    )
    failures = [
        {"error": error, "decisions": n}
        for error, n in shadows.exclude(error="")
        .values_list("error")
        .annotate(n=Sum("decisions"))
        .order_by("-n", "error")
    ]
    others = [
        {"version": version, "decisions": n}
        for version, n in window.exclude(champion=champion)
        .values_list("champion__version")
        .annotate(n=Sum("decisions"))
        .order_by("-n")
    ]
    report = ChallengerComparison(
        challenger=challenger.version,
        champion=champion.version,
        challenger_threshold=challenger.threshold,
        champion_threshold=champion.threshold,
        since=since,
        until=until,
        single=counts["single"],
        bulk=counts["bulk"],
        failed=sum(f["decisions"] for f in failures),
        failures=failures[:5],
        comparison=compare_decisions(comparison_table(scored)),
        other_champions=others,
        realised=shadow_realised_performance(challenger=challenger, champion=champion, since=since, until=until),
    )
    report.notes = _notes(report)
    return report


def comparison_table(shadows: QuerySet[ShadowScore]) -> pd.DataFrame:
    """The scored shadow rows counted by (champion decision, challenger decision, champion points,
    challenger points), with the sums of both probabilities: what ml.challenger.compare_decisions reads."""
    rows = (
        shadows.values("champion_decision", "decision", "champion_score", "score")
        .annotate(n=Count("pk"), champion_sum=Sum("champion_probability"), challenger_sum=Sum("probability_bad"))
        .order_by()
        .values_list("champion_decision", "decision", "champion_score", "score", "n", "champion_sum", "challenger_sum")
    )
    return pd.DataFrame(list(rows), columns=list(COMPARISON_COLUMNS))


def shadow_realised_performance(
    *, challenger: ModelVersion, champion: ModelVersion, since: datetime | None, until: datetime | None
) -> dict[str, Any] | None:
    """The realised performance of both versions on the shadowed decisions whose outcome is known: the
    hook for observed outcomes (issue 14, item 2, built separately).

    None while the service records no outcomes, and the report says so. Once outcomes are stored, this
    returns, for each of the two versions, what the outcomes report gives one version (ROC AUC, KS,
    bad rate by score band against the predicted probability) over the same shadowed decisions with
    an outcome: both models measured on the same applicants. Those are the champion's approved ones
    only (nobody learns whether a declined applicant would have repaid), so the challenger's swap-in
    set has no outcomes: its realised bad rate stays unknown, and the report says so
    (``scoring.services.outcomes.shadowed_performance``).
    """
    shadows = _window(ShadowScore.objects.filter(challenger=challenger, champion=champion, error=""), since, until)
    return shadowed_performance(shadows=shadows, champion=champion, challenger=challenger)


def _default_challenger() -> ModelVersion:
    current = ModelVersion.objects.filter(is_challenger=True).first()
    if current is not None:
        return current
    latest = ShadowScore.objects.select_related("challenger").order_by("-pk").first()
    if latest is None:
        raise NoComparisonError(
            "no version is the challenger and none has scored in shadow: make one the challenger first (admin: "
            "Model versions, action 'Make the selected version the challenger'; or `python manage.py challenger "
            "--set VERSION`)"
        )
    return latest.challenger


def _default_champion(window: QuerySet[ShadowScore]) -> ModelVersion | None:
    latest = window.select_related("champion").order_by("-pk").first()
    return latest.champion if latest is not None else ModelVersion.objects.filter(is_active=True).first()


def _window(shadows: QuerySet[ShadowScore], since: datetime | None, until: datetime | None) -> QuerySet[ShadowScore]:
    if since is not None:
        shadows = shadows.filter(created_at__gte=since)
    if until is not None:
        shadows = shadows.filter(created_at__lt=until)
    return shadows


def _notes(report: ChallengerComparison) -> list[str]:
    notes = [
        f"each model decides at its own cut-off: the champion {report.champion} declines from a probability of "
        f"default of {report.champion_threshold:.4f}, the challenger {report.challenger} from "
        f"{report.challenger_threshold:.4f} (its cut-off now)"
    ]
    if not report.comparison.decisions:
        notes.append("the challenger has scored no decision of this champion in the window")
    if report.failed:
        notes.append(f"{report.failed:,} decisions the challenger could not score are left out of the comparison")
    for other in report.other_champions:
        notes.append(
            f"{other['decisions']:,} shadowed decisions of another champion, {other['version']}, are "
            "not in this comparison (choose that champion to see them)"
        )
    if report.realised is None:
        notes.append(
            "realised performance: no outcomes are recorded yet. Once they are, both models are measured on the "
            "same decisions with an outcome; those are the champion's approved applicants only, so the "
            "challenger's swap-in set (applicants the champion declined) will have no outcomes"
        )
    return notes
