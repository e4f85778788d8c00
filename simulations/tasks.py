"""Celery tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError

from simulations.models import SimulationRun
from simulations.services import simulation_run_execute, simulation_run_fail

logger = logging.getLogger(__name__)


# Routed to the batch queue (CELERY_TASK_ROUTES): a simulation scores thousands of applicants and
# must never hold up a lender waiting for one score on the scoring queue.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def simulation_run_task(run_id: str) -> None:
    try:
        simulation_run_execute(run_id=run_id)
    except SimulationRun.DoesNotExist:
        logger.warning("simulation run %s does not exist; message dropped", run_id)
    except DatabaseError:
        raise  # retried with back-off
    except Exception as exc:
        # A bug must not leave the run "running" for ever: the requester sees it failed, the log has why.
        simulation_run_fail(run_id=run_id, error=f"unexpected error: {exc}")
        raise
