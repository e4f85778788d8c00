from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        # The worker heartbeat; the tasks, registered with the Celery app in every process (work is
        # sent by name through scoring/queues.py, which imports no task).
        from scoring import signals, tasks  # noqa: F401
