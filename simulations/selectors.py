from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from simulations.models import SimulationDecision, SimulationRun

DECISION_COLUMNS = ("row", "ID_CLIENT", "probability_bad", "score", "decision", "bad", "exposure", "profit")


def simulation_run_list(*, user: Any, status: str | None = None) -> QuerySet[SimulationRun]:
    """Runs ``user`` may see: their own, or every one for staff."""
    queryset = SimulationRun.objects.select_related("model_version", "requested_by")
    if not user.is_staff:
        queryset = queryset.filter(requested_by=user)
    return queryset.filter(status=status) if status else queryset


def simulation_decision_rows(*, run: SimulationRun) -> Iterator[tuple[Any, ...]]:
    """Every decision of ``run`` in test-set order, as CSV rows under :data:`DECISION_COLUMNS`."""
    values = (
        SimulationDecision.objects.filter(run=run)
        .order_by("row")
        .values_list("row", "external_id", "probability_bad", "score", "decision", "bad", "exposure", "profit")
    )
    for row, external_id, probability, score, decision, bad, exposure, profit in values.iterator(chunk_size=5000):
        yield row, external_id, round(probability, 6), score, decision, int(bad), round(exposure, 2), round(profit, 2)
