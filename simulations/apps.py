from django.apps import AppConfig


class SimulationsConfig(AppConfig):
    name = "simulations"
    verbose_name = "Lending simulations"

    def ready(self) -> None:
        # The task, registered with the Celery app in every process; a run whose message was lost (a
        # Redis restart) is sent again by the scoring app's sweep.
        from scoring import queues
        from simulations import tasks  # noqa: F401
        from simulations.services import simulation_runs_queued

        queues.swept_work_register(queues.SweptWork("simulation_runs", queues.SIMULATION_RUN, simulation_runs_queued))
